import { appendFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TrainConfig, type MetricPoint, type RunEvent } from '../protocol/protocol.js';
import { RunFollower } from './RunFollower.js';
import { newRunRecord, RunStore } from './RunStore.js';

const config = TrainConfig.parse({
  space: { name: 'tiny', input: { kind: 'vector', dim: 2 }, numClasses: 3, stages: [{ id: 's0', depth: [1], block: { type: 'dense', width: [4] } }] },
  data: { kind: 'gaussians', classes: 3, samples: 300, seed: 1 },
  steps: 10,
});
const pt = (step: number): MetricPoint => ({ step, time: step, loss: 1 / step, accuracy: 0.5, stepMs: 1, samplesPerSec: 1, etaSec: 0 });

async function setup() {
  const root = mkdtempSync(join(tmpdir(), 'sw-follow-'));
  const store = new RunStore(root);
  const events: RunEvent[] = [];
  const owned = new Set<string>();
  const follower = new RunFollower({ store, emit: (e) => events.push(e), isOwned: (id) => owned.has(id) });
  return { root, store, events, owned, follower };
}

/** run.json's mtime must move for the follower to see a change; file systems keep ms (or coarser). */
const tick = () => new Promise((r) => setTimeout(r, 20));

describe('RunFollower', () => {
  it('reports what another process writes: status changes, appended metrics, new and removed runs', async () => {
    const { root, store, events, follower } = await setup();
    const rec = newRunRecord('20260101-000000-aaaaaa', config);
    await store.createRun(rec);
    await store.appendMetrics(rec.summary.id, [pt(1), pt(2)]);
    await follower.poll();
    expect(events).toEqual([]); // the first look only takes note

    await tick();
    await store.updateSummary(rec.summary.id, { status: 'running', step: 2 });
    await store.appendMetrics(rec.summary.id, [pt(3), pt(4)]);
    await follower.poll();
    expect(events.map((e) => e.kind)).toEqual(['status', 'metrics']);
    expect(events[0]).toMatchObject({ kind: 'status', summary: { status: 'running' } });
    // only the lines appended since the last look
    expect(events[1]!.kind === 'metrics' && events[1]!.points.map((p) => p.step)).toEqual([3, 4]);

    events.length = 0;
    await follower.poll();
    expect(events).toEqual([]); // nothing changed

    const cli = newRunRecord('20260101-000001-bbbbbb', config);
    await store.createRun(cli);
    await store.appendMetrics(cli.summary.id, [pt(1)]);
    await follower.poll();
    expect(events.map((e) => `${e.kind}:${e.runId}`)).toEqual([`status:${cli.summary.id}`, `metrics:${cli.summary.id}`]);

    events.length = 0;
    rmSync(join(root, cli.summary.id), { recursive: true });
    await follower.poll();
    expect(events).toEqual([{ kind: 'removed', runId: cli.summary.id }]);
  });

  it('skips runs this host trains, and recounts after a truncation instead of resending', async () => {
    const { store, events, owned, follower } = await setup();
    const rec = newRunRecord('20260101-000002-cccccc', config);
    const id = rec.summary.id;
    await store.createRun(rec);
    await follower.poll();
    owned.add(id);
    await tick();
    await store.updateSummary(id, { status: 'running' });
    appendFileSync(join(store.runDir(id), 'metrics.jsonl'), [pt(1), pt(2), pt(3)].map((p) => JSON.stringify(p) + '\n').join(''));
    await follower.poll();
    expect(events).toEqual([]);
    owned.delete(id);
    await follower.poll();
    // no longer ours: its lines are counted, not resent; the next append is
    expect(events.filter((e) => e.kind === 'metrics')).toEqual([]);
    await store.truncateMetrics(id, 1);
    await follower.poll();
    await store.appendMetrics(id, [pt(2)]);
    await follower.poll();
    const sent = events.filter((e) => e.kind === 'metrics');
    expect(sent.length).toBe(1);
    expect(sent[0]!.kind === 'metrics' && sent[0]!.points.map((p) => p.step)).toEqual([2]);
  });
});
