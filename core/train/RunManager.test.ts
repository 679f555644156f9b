import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDataset } from '../data/Dataset.js';
import { EventHub } from '../protocol/EventHub.js';
import { buildSupernet } from '../nn/Supernet.js';
import { TrainConfig, type MetricPoint, type RunEvent } from '../protocol/protocol.js';
import { encodeArch, sampleArch } from '../space/archCodec.js';
import { validateSpace } from '../space/validateSpace.js';
import { RunManager } from './RunManager.js';
import { isProcessAlive, RunStore } from './RunStore.js';
import { createSampler, train } from './Trainer.js';

const spaceFile = new URL('../../assets/spaces/spirals-moe.json', import.meta.url);
const v = validateSpace(JSON.parse(readFileSync(spaceFile, 'utf8')));
if (!v.ok) throw new Error('spirals-moe.json does not validate');
const space = v.space;

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'sy-manager-'));
});
afterAll(() => rm(root, { recursive: true, force: true }));

/** Resolves with the first event the predicate accepts. */
function waitFor(hub: EventHub, pred: (e: RunEvent) => boolean, timeoutMs = 60_000): Promise<RunEvent> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error('timed out waiting for a run event'));
    }, timeoutMs);
    const off = hub.subscribe('onRunEvent', {}, (e) => {
      if (pred(e)) {
        clearTimeout(timer);
        off();
        resolve(e);
      }
    });
  });
}

describe('RunManager', () => {
  it('resumes after kill -9: continues from the checkpoint with a continuous history and the same RNG stream', async () => {
    const hub = new EventHub();
    const events: RunEvent[] = [];
    const metricTimes: number[] = [];
    hub.subscribe('onRunEvent', {}, (e) => {
      events.push(e);
      if (e.kind === 'metrics') metricTimes.push(performance.now());
    });
    const manager = new RunManager({ runsDir: root, hub, backend: 'cpu' });
    const cfg = TrainConfig.parse({
      space,
      data: { kind: 'spirals', classes: 4, samples: 800, seed: 3 },
      strategy: 'spos',
      steps: 5000,
      batchSize: 32,
      learningRate: 0.01,
      evalEvery: 50,
      checkpointEvery: 20,
      seed: 3,
      backend: 'cpu',
    });
    const { runId } = await manager.start(cfg);
    await waitFor(hub, (e) => e.kind === 'status' && e.runId === runId && e.summary.step >= 20);
    // kill some steps after the checkpoint, so metrics.jsonl holds points the resume must drop
    await waitFor(hub, (e) => e.kind === 'metrics' && e.runId === runId && e.points.at(-1)!.step >= 30);
    const store = new RunStore(root);
    const pid = (await store.readOwner(runId))!;
    expect(pid).not.toBe(process.pid);
    process.kill(pid, 'SIGKILL');
    await manager.whenExited(runId);
    expect(isProcessAlive(pid)).toBe(false);
    const killed = await manager.get(runId);
    expect(killed.record.summary.status).toBe('interrupted');
    expect(killed.record.summary.error).toMatch(/killed by SIGKILL/);
    const ckptStep = (await store.loadLatestCheckpoint(runId))!.meta.step;
    expect(ckptStep).toBeGreaterThanOrEqual(20);
    expect(ckptStep % 20).toBe(0);
    expect((await store.readMetrics(runId)).at(-1)!.step).toBeGreaterThan(ckptStep);

    await manager.resume(runId);
    const first = (await waitFor(hub, (e) => e.kind === 'metrics' && e.runId === runId)) as Extract<RunEvent, { kind: 'metrics' }>;
    // the resumed child starts right after the checkpoint, not at 1 and not where it was killed
    expect(first.points[0]!.step).toBe(ckptStep + 1);
    await waitFor(hub, (e) => e.kind === 'status' && e.runId === runId && e.summary.step >= ckptStep + 20);
    expect(await manager.stop(runId)).toEqual({ stopped: true });
    const after = await manager.get(runId);
    expect(after.record.summary.status).toBe('stopped');
    expect(after.record.summary.backend).toBe('cpu');

    const steps = after.metrics.map((p) => p.step);
    expect(steps).toEqual(Array.from({ length: steps.length }, (_, i) => i + 1));
    expect(steps.length).toBeGreaterThanOrEqual(ckptStep + 20);
    // same subnet stream as an uninterrupted sampler
    const sampler = createSampler(cfg);
    const expected = steps.map(() => encodeArch(space, sampleArch(space, sampler)));
    expect(after.metrics.map((p) => p.archVector)).toEqual(expected);
    // and the same losses as an uninterrupted run in this process (same backend, same data order)
    await tf.setBackend('cpu');
    const ds = await loadDataset(cfg.data, { input: space.input });
    const net = buildSupernet(space, { seed: cfg.seed });
    const ac = new AbortController();
    const ref: MetricPoint[] = [];
    await train({
      config: cfg, net, dataset: ds, signal: ac.signal, snapshots: 0,
      onStep: (p) => p.step >= steps.length && ac.abort(),
      sink: { metrics: (p) => void ref.push(...p), specialization: () => {}, checkpoint: () => {} },
    });
    net.dispose();
    expect(ref.map((p) => p.step)).toEqual(steps);
    after.metrics.forEach((p, i) => expect(p.loss).toBeCloseTo(ref[i]!.loss, 4));
    // real supernet MoE metrics: one ExpertLoad per MoE layer, resolved to numbers
    const moe = after.metrics[0]!.moe!;
    expect(moe.map((l) => l.layer)).toEqual(['moe.b0']);
    expect(moe[0]!.load).toHaveLength(moe[0]!.expertNames.length);
    expect(moe[0]!.load.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 4);
    expect(typeof moe[0]!.collapse).toBe('boolean');
    // relayed events: the interrupted status, and metric batches arriving at no more than 20 Hz
    // (8 Hz batches plus a flush at each checkpoint), never one event per step
    expect(events.some((e) => e.kind === 'status' && e.summary.status === 'interrupted')).toBe(true);
    const gaps = metricTimes.slice(1).map((t, i) => t - metricTimes[i]!);
    const medianGapMs = gaps.sort((a, b) => a - b)[Math.floor(gaps.length / 2)]!;
    expect(medianGapMs).toBeGreaterThanOrEqual(50);
    await manager.close();
  });

  it('marks runs left running by a dead process as interrupted on startup', async () => {
    const store = new RunStore(root);
    const id = 'orphan-run';
    await store.createRun({
      config: TrainConfig.parse({ space, data: { kind: 'spirals' } }),
      summary: {
        id, name: id, createdAt: new Date().toISOString(), status: 'running', strategy: 'spos', step: 3, steps: 10,
        backend: 'cpu', device: 'CPU', spaceName: space.name, dataKind: 'spirals', lastLoss: null, lastAccuracy: null, bestValAccuracy: null,
      },
    });
    await store.writeOwner(id, 2 ** 22 + 12345); // above Linux's pid_max default: no such process
    const manager = new RunManager({ runsDir: root });
    const s = (await manager.list()).find((r) => r.id === id)!;
    expect(s.status).toBe('interrupted');
    await expect(manager.get('no-such-run')).rejects.toMatchObject({ code: 'not_found' });
    await manager.close();
  });
});
