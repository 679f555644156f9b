import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadDataset, type Dataset } from '../data/Dataset.js';
import { MetricPoint, TrainConfig, type Specialization } from '../protocol/protocol.js';
import { largestArch, smallestArch } from '../space/archCodec.js';
import { SearchSpace, type Arch } from '../space/SearchSpace.js';
import type { Checkpoint } from './checkpointFormat.js';
import { buildTestSupernet, TEST_SPACE } from './testSupernet.js';
import { EXPERT_COLLAPSE_THRESHOLD, train, type TrainerSink } from './Trainer.js';

let ds: Dataset;
beforeAll(async () => {
  await tf.setBackend('cpu');
  ds = await loadDataset({ kind: 'gaussians', classes: 3, samples: 300, spread: 0.5, seed: 2 });
});

function config(over: Partial<TrainConfig> = {}): TrainConfig {
  return TrainConfig.parse({
    space: TEST_SPACE, data: { kind: 'gaussians', classes: 3 }, steps: 30, batchSize: 16, learningRate: 0.02,
    evalEvery: 10, checkpointEvery: 10, ...over,
  });
}

/** A clock that moves 10 ms each time it is read. */
const tickingClock = () => {
  let t = 0;
  return () => (t += 10);
};

function recorder() {
  const batches: MetricPoint[][] = [];
  const specs: Specialization[] = [];
  const ckpts: Checkpoint[] = [];
  const sink: TrainerSink = {
    metrics: (p) => void batches.push(p),
    specialization: (s) => void specs.push(s),
    checkpoint: (c) => void ckpts.push(c),
  };
  return { batches, specs, ckpts, sink };
}

describe('train', () => {
  it('streams batched MoE metrics: ExpertLoad per layer, collapse flagged above the threshold', async () => {
    // A router bias of 20 on expert 0 sends every token there: a collapsed layer.
    const net = buildTestSupernet(TEST_SPACE, 1, { routerBias: [20, 0, 0, 0] });
    const r = recorder();
    const res = await train({ config: config({ strategy: 'spos' }), net, dataset: ds, sink: r.sink, now: tickingClock() });
    expect(res.status).toBe('completed');
    const points = r.batches.flat();
    expect(points.map((p) => p.step)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    for (const p of points) expect(MetricPoint.safeParse(p).success).toBe(true);
    // ~40 ms of fake time per step, 125 ms interval → several points per batch, well under one batch per step
    expect(r.batches.length).toBeGreaterThan(3);
    expect(r.batches.length).toBeLessThan(15);
    const moe = points[0]!.moe!;
    expect(moe).toHaveLength(1);
    expect(moe[0]).toMatchObject({ layer: 'moe.b0', expertNames: ['e0', 'e1', 'e2', 'e3'], collapse: true, meanActive: 1, dropped: 0 });
    expect(moe[0]!.load[0]).toBeGreaterThan(EXPERT_COLLAPSE_THRESHOLD);
    expect(moe[0]!.load.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
    expect(points[9]!.valAccuracy).toBeTypeOf('number');
    // Validation is scored on the validation split (held out of training), never on test.
    expect(points[9]!.valSamples).toBe(ds.val.n);
    expect(ds.val.n).not.toBe(ds.test.n);
    const [lo, hi] = points[9]!.valCi95!;
    expect(lo).toBeLessThanOrEqual(points[9]!.valAccuracy!);
    expect(hi).toBeGreaterThanOrEqual(points[9]!.valAccuracy!);
    expect(res.final!.val).toMatchObject({ split: 'val', n: ds.val.n, accuracy: points[29]!.valAccuracy });
    expect(points[8]!.valAccuracy).toBeUndefined();
    expect(points[0]!.archVector).toBeDefined();
    expect(points[29]!.etaSec).toBe(0);
    // snapshots: class × expert counts and the plane map
    expect(r.specs.length).toBeGreaterThanOrEqual(5);
    const s = r.specs.at(-1)!;
    expect(s.layers[0]!.counts).toHaveLength(3);
    expect(s.layers[0]!.counts.flat().reduce((a, b) => a + b, 0)).toBe(ds.val.n);
    expect(s.layers[0]!.coactivation[0]![0]).toBe(s.layers[0]!.counts.reduce((a, row) => a + row[0]!, 0));
    expect(s.plane!.size).toBe(48);
    expect(s.plane!.experts[0]).toHaveLength(48 * 48);
    expect(s.plane!.predicted).toHaveLength(48 * 48);
    expect(s.plane!.points!.length).toBe(Math.min(300, ds.val.n));
    net.dispose();
  });

  it('a balanced router is not flagged as collapsed', async () => {
    // On this data (the first batch's class mix decides it), router seed 5 spreads the first batch over
    // all four experts (largest share 0.38); seeds 1, 3 and 7 collapse it onto one or two.
    const balanced = await loadDataset({ kind: 'gaussians', classes: 3, samples: 300, spread: 0.5, seed: 3 });
    const net = buildTestSupernet(TEST_SPACE, 5);
    const r = recorder();
    await train({ config: config({ strategy: 'plain', steps: 3, evalEvery: 100 }), net, dataset: balanced, sink: r.sink, now: tickingClock(), snapshots: 0 });
    const load = r.batches.flat()[0]!.moe![0]!;
    expect(Math.max(...load.load)).toBeLessThan(EXPERT_COLLAPSE_THRESHOLD);
    expect(load.collapse).toBe(false);
    net.dispose();
  });

  it('learns (plain), and leaves weights off the path untouched', async () => {
    const net = buildTestSupernet(TEST_SPACE, 4);
    const arch = { stages: [{ depth: 1, blocks: [{ op: 'dense', width: 8 }] }, { depth: 1, blocks: [{ expertHidden: 8 }] }] };
    const w1 = net.namedVariables().get('stem.b0/kernel')!;
    const before = w1.arraySync() as number[][];
    const r = recorder();
    const res = await train({
      config: config({ strategy: 'plain', arch, steps: 150, evalEvery: 50 }),
      net, dataset: ds, sink: r.sink, now: tickingClock(), snapshots: 0,
    });
    expect(res.final!.valAccuracy).toBeGreaterThan(0.9);
    const after = w1.arraySync() as number[][];
    expect(after.map((row) => row.slice(8))).toEqual(before.map((row) => row.slice(8)));
    expect(after.map((row) => row.slice(0, 8))).not.toEqual(before.map((row) => row.slice(0, 8)));
    net.dispose();
  });

  it('sandwich trains the largest, the smallest and two random subnets each step (Yu & Huang, 2019)', async () => {
    const net = buildTestSupernet(TEST_SPACE, 6);
    const trained: Arch[] = [];
    const apply = net.apply.bind(net);
    net.apply = (x, arch, opts) => {
      if (opts.training) trained.push(arch);
      return apply(x, arch, opts);
    };
    await train({
      config: config({ strategy: 'sandwich', steps: 3, evalEvery: 100, checkpointEvery: 100 }),
      net, dataset: ds, sink: recorder().sink, now: tickingClock(), snapshots: 0,
    });
    expect(trained).toHaveLength(3 * 4);
    const space = SearchSpace.parse(TEST_SPACE);
    for (let step = 0; step < 3; step++) {
      expect(trained[4 * step]).toEqual(largestArch(space));
      expect(trained[4 * step + 1]).toEqual(smallestArch(space));
    }
    net.dispose();
  });

  it('does not leak tensors across steps (spos and sandwich)', async () => {
    for (const strategy of ['spos', 'sandwich'] as const) {
      const net = buildTestSupernet(TEST_SPACE, 5);
      const counts: number[] = [];
      await train({
        config: config({ strategy, steps: 12, evalEvery: 4, checkpointEvery: 5 }),
        net, dataset: ds, sink: recorder().sink, now: tickingClock(), snapshots: 3,
        onStep: () => counts.push(tf.memory().numTensors),
      });
      // The first step creates the optimizer slots; after that the count is flat.
      expect(new Set(counts.slice(1)).size).toBe(1);
      net.dispose();
    }
  });

  it('stops on abort with a checkpoint, and resuming continues the same run exactly', async () => {
    const cfg = config({ strategy: 'sandwich', steps: 20, evalEvery: 5, checkpointEvery: 100 });
    const refNet = buildTestSupernet(TEST_SPACE, 7);
    const ref = recorder();
    await train({ config: cfg, net: refNet, dataset: ds, sink: ref.sink, now: tickingClock(), snapshots: 0 });

    const net = buildTestSupernet(TEST_SPACE, 7);
    const ac = new AbortController();
    const first = recorder();
    const stopped = await train({
      config: cfg, net, dataset: ds, sink: first.sink, now: tickingClock(), snapshots: 0, signal: ac.signal,
      onStep: (p) => p.step === 8 && ac.abort(),
    });
    expect(stopped).toMatchObject({ status: 'stopped', step: 8 });
    const ckpt = first.ckpts.at(-1)!;
    expect(ckpt.meta.step).toBe(8);
    net.dispose();

    // A fresh supernet with other initial weights: everything must come from the checkpoint.
    const net2 = buildTestSupernet(TEST_SPACE, 99);
    const second = recorder();
    const done = await train({ config: cfg, net: net2, dataset: ds, sink: second.sink, now: tickingClock(), snapshots: 0, resume: ckpt });
    expect(done.status).toBe('completed');
    const joined = [...first.batches.flat(), ...second.batches.flat()];
    const refPoints = ref.batches.flat();
    expect(joined.map((p) => p.step)).toEqual(refPoints.map((p) => p.step));
    expect(joined.map((p) => p.archVector)).toEqual(refPoints.map((p) => p.archVector));
    joined.forEach((p, i) => expect(p.loss).toBeCloseTo(refPoints[i]!.loss, 5));
    expect(second.ckpts.at(-1)!.variables).toEqual(ref.ckpts.at(-1)!.variables);
    refNet.dispose();
    net2.dispose();
  });
});
