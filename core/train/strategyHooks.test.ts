/**
 * The trainer's side of the TrainingStrategy hooks (core/train/strategies/TrainingStrategy.ts): each hook
 * is checked against an independent computation on the same batch and weights.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadDataset, pickSamples, type Dataset } from '../data/Dataset.js';
import { MetricPoint, TrainConfig } from '../protocol/protocol.js';
import { largestArch, smallestArch } from '../space/archCodec.js';
import type { Arch } from '../space/SearchSpace.js';
import { decodeCheckpoint, encodeCheckpoint, type Checkpoint } from './checkpointFormat.js';
import { crossEntropy } from './evaluate.js';
import { defineStrategy, type SubnetGradients, type TrainingStrategy } from './strategies/TrainingStrategy.js';
import { buildTestSupernet, TEST_SPACE } from './testSupernet.js';
import { train, type TrainerSink } from './Trainer.js';

let ds: Dataset;
beforeAll(async () => {
  await tf.setBackend('cpu');
  ds = await loadDataset({ kind: 'gaussians', classes: 3, samples: 300, spread: 0.5, seed: 2 });
});

const config = (over: Partial<TrainConfig> = {}) =>
  TrainConfig.parse({ space: TEST_SPACE, data: { kind: 'gaussians', classes: 3 }, steps: 1, batchSize: 16, learningRate: 0.02, evalEvery: 1, checkpointEvery: 100, ...over });

function recorder() {
  const points: MetricPoint[] = [];
  const ckpts: Checkpoint[] = [];
  const sink: TrainerSink = { metrics: (p) => void points.push(...p), specialization: () => {}, checkpoint: (c) => void ckpts.push(c) };
  return { points, ckpts, sink };
}

const INDICES = [5, 9, 17, 40, 41, 42, 77, 80, 101, 120, 133, 150, 160, 199, 201, 205];
const base = { name: 'plain', paper: 'test' } as const;

/** Independent: the subnet's loss and gradient (by stable name) on the chosen samples, before any update. */
function referenceGradients(seed: number, arch: Arch, loss: (logits: tf.Tensor2D, ys: tf.Tensor1D) => tf.Scalar) {
  const net = buildTestSupernet(TEST_SPACE, seed);
  const batch = pickSamples(ds.train, INDICES);
  const xs = tf.tensor2d(batch.x, [INDICES.length, 2]);
  const ys = tf.tensor1d(batch.y, 'int32');
  const { value, grads } = tf.variableGrads(() => loss(net.apply(xs, arch, { training: true, progress: 0 }).logits, ys), net.trainableVariables());
  const byName = new Map<string, Float32Array>();
  for (const [name, v] of net.namedVariables()) if (grads[v.name]) byName.set(name, grads[v.name]!.dataSync() as Float32Array);
  const out = { loss: value.dataSync()[0]!, grads: byName };
  net.dispose();
  return out;
}

const expectClose = (a: ArrayLike<number>, b: ArrayLike<number>, digits = 5) => {
  expect(a.length).toBe(b.length);
  for (let i = 0; i < a.length; i++) expect(a[i]!).toBeCloseTo(b[i]!, digits);
};

describe('strategy hooks in the trainer', () => {
  it('sampleBatch chooses the samples and its weights scale the task loss', async () => {
    const strategy: TrainingStrategy = {
      ...base,
      sampleBatch: () => ({ indices: INDICES, weights: INDICES.map(() => 2) }),
      plan: ({ largest }) => ({ arches: [largest], reported: 0 }),
    };
    const r = recorder();
    await train({ config: config(), net: buildTestSupernet(TEST_SPACE, 3), dataset: ds, sink: r.sink, strategy, snapshots: 0 });
    const ref = referenceGradients(3, largestArch(TEST_SPACE), (l, y) => crossEntropy(l, y));
    expect(r.points[0]!.loss).toBeCloseTo(2 * ref.loss, 5);
  });

  it('afterSubnet gets each subnet its own gradient by stable name, scaled by the plan weight', async () => {
    const seen: { index: number; grads: Map<string, Float32Array> }[] = [];
    const strategy: TrainingStrategy = {
      ...base,
      sampleBatch: () => ({ indices: INDICES, weights: null }),
      plan: ({ largest, smallest }) => ({ arches: [largest, smallest], reported: 0, weights: [1, 3] }),
      afterSubnet: (g: SubnetGradients) => {
        seen.push({ index: g.index, grads: new Map([...g.grads].map(([n, t]) => [n, t.dataSync() as Float32Array])) });
      },
    };
    await train({ config: config(), net: buildTestSupernet(TEST_SPACE, 4), dataset: ds, sink: recorder().sink, strategy, snapshots: 0 });
    expect(seen.map((s) => s.index)).toEqual([0, 1]);
    const ce = (l: tf.Tensor2D, y: tf.Tensor1D) => crossEntropy(l, y);
    const refLarge = referenceGradients(4, largestArch(TEST_SPACE), ce);
    const refSmall = referenceGradients(4, smallestArch(TEST_SPACE), (l, y) => tf.mul(3, ce(l, y)) as tf.Scalar);
    for (const [ref, got] of [[refLarge, seen[0]!], [refSmall, seen[1]!]] as const) {
      // The MoE balance loss adds to the stem's and router's gradients; the head's is the CE's alone.
      expect([...got.grads.keys()].sort()).toEqual([...ref.grads.keys()].sort());
      expectClose(got.grads.get('head/kernel')!, ref.grads.get('head/kernel')!);
    }
  });

  it('the loss hook sees the earlier subnets\' logits as constants, and its kd is reported beside the task loss', async () => {
    const teacher: Arch = largestArch(TEST_SPACE);
    const student: Arch = smallestArch(TEST_SPACE);
    let gradHead: Float32Array | null = null;
    const strategy: TrainingStrategy = {
      ...base,
      sampleBatch: () => ({ indices: INDICES, weights: null }),
      plan: () => ({ arches: [teacher, student], reported: 1 }),
      loss: ({ index, logits, taskLoss, earlier }) => {
        if (index === 0) return { total: taskLoss };
        const kd = tf.mean(tf.square(tf.sub(logits, earlier[0]!))) as tf.Scalar;
        return { total: kd, kd };
      },
      afterSubnet: (g) => {
        if (g.index === 1) gradHead = g.grads.get('head/kernel')!.dataSync() as Float32Array;
      },
    };
    const r = recorder();
    await train({ config: config(), net: buildTestSupernet(TEST_SPACE, 5), dataset: ds, sink: r.sink, strategy, snapshots: 0 });

    // Independent: the teacher's logits as a plain constant, the student's squared distance to them.
    const net = buildTestSupernet(TEST_SPACE, 5);
    const batch = pickSamples(ds.train, INDICES);
    const xs = tf.tensor2d(batch.x, [INDICES.length, 2]);
    const t = net.apply(xs, teacher, { training: true }).logits;
    const { value, grads } = tf.variableGrads(() => tf.mean(tf.square(tf.sub(net.apply(xs, student, { training: true }).logits, t))) as tf.Scalar, net.trainableVariables());
    const head = net.namedVariables().get('head/kernel')!;
    expect(r.points[0]!.kdLoss).toBeCloseTo(value.dataSync()[0]!, 5);
    expectClose(gradHead!, grads[head.name]!.dataSync());
    // `loss` stays the task loss: the mean hard-label CE of both subnets.
    const ce = (a: Arch) => referenceGradients(5, a, (l, y) => crossEntropy(l, y)).loss;
    expect(r.points[0]!.loss).toBeCloseTo((ce(teacher) + ce(student)) / 2, 5);
    net.dispose();
  });

  it('beforeStep runs before each step with the weights; state is checkpointed (a copy) and restored on resume', async () => {
    interface Counter { planned: number; before: number[] }
    const make = (log: number[]): TrainingStrategy =>
      defineStrategy<Counter>({
        ...base,
        init: () => ({ planned: 0, before: [] }),
        beforeStep: (ctx, w) => {
          expect(w.net.namedVariables().size).toBeGreaterThan(0);
          ctx.state.before.push(ctx.step);
        },
        plan: (ctx) => {
          ctx.state.planned++;
          log.push(ctx.state.planned);
          return { arches: [ctx.largest], reported: 0 };
        },
        report: (ctx) => ({ planned: ctx.state.planned, before: ctx.state.before.slice(-2) }),
      }) as TrainingStrategy;
    const cfg = config({ steps: 10, evalEvery: 2 });
    const refLog: number[] = [];
    const ref = recorder();
    await train({ config: cfg, net: buildTestSupernet(TEST_SPACE, 6), dataset: ds, sink: ref.sink, strategy: make(refLog), snapshots: 0 });
    expect(refLog).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(ref.points.find((p) => p.step === 4)!.strategy).toEqual({ planned: 4, before: [2, 3] });

    const ac = new AbortController();
    const first = recorder();
    await train({ config: cfg, net: buildTestSupernet(TEST_SPACE, 6), dataset: ds, sink: first.sink, strategy: make([]), snapshots: 0, signal: ac.signal, onStep: (p) => p.step === 6 && ac.abort() });
    const saved = first.ckpts.at(-1)!;
    expect(saved.meta.strategyState).toEqual({ planned: 6, before: [0, 1, 2, 3, 4, 5] });
    // Through the file format, as a real resume reads it.
    const resumeLog: number[] = [];
    const second = recorder();
    await train({ config: cfg, net: buildTestSupernet(TEST_SPACE, 60), dataset: ds, sink: second.sink, strategy: make(resumeLog), snapshots: 0, resume: decodeCheckpoint(encodeCheckpoint(saved)) });
    expect(resumeLog).toEqual([7, 8, 9, 10]);
    expect(second.points.at(-1)!.strategy).toEqual(ref.points.at(-1)!.strategy);
    expect(saved.meta.strategyState).toEqual({ planned: 6, before: [0, 1, 2, 3, 4, 5] });
    for (const p of [...ref.points, ...second.points]) expect(MetricPoint.safeParse(p).success).toBe(true);
  });

  it('sampleBatch indices outside the training split are an error naming the index', async () => {
    const strategy: TrainingStrategy = { ...base, sampleBatch: () => ({ indices: [0, 1e6], weights: null }), plan: ({ largest }) => ({ arches: [largest], reported: 0 }) };
    await expect(train({ config: config(), net: buildTestSupernet(TEST_SPACE, 3), dataset: ds, sink: recorder().sink, strategy, snapshots: 0 })).rejects.toThrow(/index 1000000 is outside/);
  });
});
