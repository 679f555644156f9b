/**
 * RunManager with an injected spawner (what Electron's core uses once the RunAsNode fuse is off): the
 * run's child comes from `spawnChild`, gets 'start' and 'stop' through it, its events reach the hub and
 * a kill after the stop timeout is reported with its signal.
 */
import { EventEmitter } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { EventHub } from '../protocol/EventHub.js';
import type { RunEvent } from '../protocol/protocol.js';
import { RunManager } from './RunManager.js';
import type { TrainChild } from './TrainChild.js';
import type { ChildMessage, ParentMessage } from './trainProcessMessages.js';

class FakeTrainChild extends EventEmitter implements TrainChild {
  connected = true;
  readonly stdout = new PassThrough();
  readonly stderr = new PassThrough();
  readonly received: ParentMessage[] = [];
  readonly kills: (NodeJS.Signals | undefined)[] = [];
  send(m: ParentMessage) {
    this.received.push(m);
    return true;
  }
  kill(signal?: NodeJS.Signals) {
    this.kills.push(signal);
    this.exit(null, signal ?? 'SIGTERM');
    return true;
  }
  post(m: ChildMessage) {
    this.emit('message', m);
  }
  exit(code: number | null, signal: NodeJS.Signals | null) {
    this.connected = false;
    this.emit('exit', code, signal);
  }
}

const spirals = {
  name: 's',
  input: { kind: 'vector' as const, dim: 2 },
  numClasses: 2,
  stages: [{ id: 'a', depth: [1], block: { type: 'dense' as const, width: [4] } }],
};

describe('RunManager with an injected spawner', () => {
  let dir = '';
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('starts, relays and stops the run through the injected child', async () => {
    dir = await mkdtemp(join(tmpdir(), 'sy-spawn-'));
    const children: FakeTrainChild[] = [];
    const hub = new EventHub();
    const seen: RunEvent[] = [];
    hub.subscribe('onRunEvent', {}, (e) => seen.push(e));
    const runs = new RunManager({
      runsDir: dir,
      hub,
      maxConcurrent: 1,
      stopTimeoutMs: 10,
      spawnChild: () => {
        const c = new FakeTrainChild();
        children.push(c);
        return c;
      },
    });
    const { runId } = await runs.start({ space: spirals, data: { kind: 'spirals' }, steps: 5 });
    for (let i = 0; i < 100 && children.length === 0; i++) await new Promise((r) => setTimeout(r, 5));
    expect(children).toHaveLength(1);
    const child = children[0]!;
    expect(child.received[0]).toMatchObject({ type: 'start', runId, resume: false, runsDir: dir });

    child.post({ type: 'event', event: { kind: 'log', runId, level: 'info', message: 'from the injected child' } });
    expect(seen.some((e) => e.kind === 'log' && e.message === 'from the injected child')).toBe(true);

    // The fake never checkpoints: stop asks, waits stopTimeoutMs, then kills through the same child.
    await runs.stop(runId);
    expect(child.received.at(-1)).toEqual({ type: 'stop' });
    expect(child.kills).toEqual(['SIGKILL']);
    const rec = await runs.store.readRecord(runId);
    expect(rec.summary.status).toBe('interrupted');
    expect(rec.summary.error).toContain('SIGKILL');
    await runs.close();
  });
});
