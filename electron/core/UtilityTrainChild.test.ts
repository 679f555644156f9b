/**
 * The whole chain without Electron: a real RunManager whose children come from TrainChildBroker (the
 * core's side), relayed through TrainSpawner (main's side) to a fake utility process playing
 * trainProcess. Nothing is forked with ELECTRON_RUN_AS_NODE.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { EventHub } from '../../core/protocol/EventHub.js';
import type { RunEvent } from '../../core/protocol/protocol.js';
import { RunManager } from '../../core/train/RunManager.js';
import { FakeUtility } from '../main/FakeUtility.js';
import { TrainSpawner } from '../main/TrainSpawner.js';
import { TrainChildBroker } from './UtilityTrainChild.js';

const space = {
  name: 's',
  input: { kind: 'vector' as const, dim: 2 },
  numClasses: 2,
  stages: [{ id: 'a', depth: [1], block: { type: 'dense' as const, width: [4] } }],
};

describe('training children through the main process', () => {
  let dir = '';
  afterEach(() => rm(dir, { recursive: true, force: true }));

  function chain(onStart: (child: FakeUtility, runId: string) => void) {
    const utilities: FakeUtility[] = [];
    // Messages cross process boundaries asynchronously, as they do over the parent ports.
    const hop = (fn: () => void) => setImmediate(fn);
    const spawner: TrainSpawner<FakeUtility> = new TrainSpawner<FakeUtility>({
      fork: () => {
        const u = new FakeUtility();
        utilities.push(u);
        const post = u.postMessage.bind(u);
        u.postMessage = (m) => {
          post(m);
          if ((m as { type?: string }).type === 'start') onStart(u, (m as { runId: string }).runId);
        };
        hop(() => u.spawned());
        return u;
      },
      toCore: (r) => hop(() => broker.receive(r)),
    });
    const broker = new TrainChildBroker((m) => hop(() => spawner.receive(m)));
    return { utilities, spawner, broker };
  }

  it('trains a run in a child main started, with its events, stderr and final status', async () => {
    dir = await mkdtemp(join(tmpdir(), 'sy-utility-'));
    const hub = new EventHub();
    const seen: RunEvent[] = [];
    hub.subscribe('onRunEvent', {}, (e) => seen.push(e));
    let runs!: RunManager;
    const t = chain((u, runId) => {
      void (async () => {
        u.say({ type: 'event', event: { kind: 'log', runId, level: 'info', message: 'step 1' } });
        u.stderr.write('tfjs banner\n');
        const rec = await runs.store.updateSummary(runId, { status: 'completed', step: 5 });
        u.say({ type: 'done', summary: rec.summary });
        setImmediate(() => u.exit(0));
      })();
    });
    runs = new RunManager({ runsDir: dir, hub, maxConcurrent: 1, spawnChild: t.broker.spawn });
    const { runId } = await runs.start({ space, data: { kind: 'spirals' }, steps: 5 });
    for (let i = 0; i < 200 && t.utilities.length === 0; i++) await new Promise((r) => setTimeout(r, 5));
    await runs.whenExited(runId);
    expect(t.utilities).toHaveLength(1);
    expect(t.utilities[0]!.inbox[0]).toMatchObject({ type: 'start', runId });
    expect(seen.some((e) => e.kind === 'log' && e.message === 'step 1')).toBe(true);
    expect((await runs.store.readRecord(runId)).summary.status).toBe('completed');
    expect(t.broker.liveCount).toBe(0);
    expect(t.spawner.runningCount).toBe(0);
    await runs.close();
  });

  it('kills a child that ignores stop through main, and the run says it was killed by SIGKILL', async () => {
    dir = await mkdtemp(join(tmpdir(), 'sy-utility-'));
    const t = chain(() => {});
    const runs = new RunManager({ runsDir: dir, maxConcurrent: 1, stopTimeoutMs: 20, spawnChild: t.broker.spawn });
    const { runId } = await runs.start({ space, data: { kind: 'spirals' }, steps: 5 });
    for (let i = 0; i < 200 && t.utilities.length === 0; i++) await new Promise((r) => setTimeout(r, 5));
    const u = t.utilities[0]!;
    // UtilityProcess.kill is SIGTERM; the fake dies on it as a stuck child would on a hard kill.
    u.kill = () => {
      setImmediate(() => u.exit(137));
      return true;
    };
    await runs.stop(runId);
    expect(u.inbox.at(-1)).toEqual({ type: 'stop' });
    const rec = await runs.store.readRecord(runId);
    expect(rec.summary.status).toBe('interrupted');
    expect(rec.summary.error).toContain('SIGKILL');
    await runs.close();
  });
});
