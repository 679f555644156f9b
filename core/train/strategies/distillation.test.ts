/** Inplace distillation (BigNAS) and attentive sampling (AttentiveNAS), each against an independent computation. */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { BatchIterator } from '../../data/BatchIterator.js';
import { loadDataset, type Dataset } from '../../data/Dataset.js';
import { buildSupernet } from '../../nn/Supernet.js';
import { TrainConfig, type MetricPoint } from '../../protocol/protocol.js';
import { archKey, largestArch, smallestArch } from '../../space/archCodec.js';
import { createRng } from '../../space/rng.js';
import { SearchSpace } from '../../space/SearchSpace.js';
import { buildTestSupernet, TEST_SPACE } from '../testSupernet.js';
import { createSampler, train } from '../Trainer.js';
import { attentiveCandidates, attentiveStrategy } from './attentivenas.js';
import { bignas } from './bignas.js';
import type { StrategyContext } from './TrainingStrategy.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** Plain-JS softmax of one row. */
const softmax = (row: number[]) => {
  const m = Math.max(...row);
  const e = row.map((v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
};
/** −Σ p_teacher · log q_student, mean over rows: the soft-label loss, computed independently. */
const softCE = (student: number[][], teacher: number[][]) =>
  student.reduce((acc, s, i) => acc - softmax(teacher[i]!).reduce((a, p, c) => a + p * Math.log(softmax(s)[c]!), 0), 0) / student.length;

describe('inplace distillation (bignas)', () => {
  it('a smaller subnet\'s loss target is the largest subnet\'s softmax, not the labels', () => {
    const teacher = [[2, 0, -1], [0.5, 0.2, 3]];
    const student = [[0, 1, 0], [1, 1, -2]];
    const s = tf.tensor2d(student);
    const t = tf.tensor2d(teacher);
    const labels = tf.tensor1d([2, 0], 'int32');
    const scale = tf.variable(tf.scalar(1));
    const { value, grads } = tf.variableGrads(
      () => bignas.loss!({ index: 1, arch: largestArch(TEST_SPACE), logits: tf.mul(s, scale) as tf.Tensor2D, labels, sampleWeights: null, taskLoss: tf.scalar(123), earlier: [t] }, {} as StrategyContext).total,
      [scale],
    );
    expect(value.dataSync()[0]).toBeCloseTo(softCE(student, teacher), 5);
    // d/dscale of softCE(scale·s) at 1 = Σ (q − p)·s / n: the target is the teacher's softmax.
    const expected = student.reduce((acc, row, i) => acc + softmax(row).reduce((a, q, c) => a + (q - softmax(teacher[i]!)[c]!) * row[c]!, 0), 0) / student.length;
    expect(grads[scale.name]!.dataSync()[0]).toBeCloseTo(expected, 5);
    // The teacher itself keeps the task loss.
    const own = bignas.loss!({ index: 0, arch: largestArch(TEST_SPACE), logits: t, labels, sampleWeights: null, taskLoss: tf.scalar(7), earlier: [] }, {} as StrategyContext);
    expect(own.total.dataSync()[0]).toBe(7);
    expect(own.kd).toBeUndefined();
  });

  it('through the trainer: kdLoss is the mean soft CE of the three students against the largest on the step\'s batch', async () => {
    const ds: Dataset = await loadDataset({ kind: 'gaussians', classes: 3, samples: 300, spread: 0.5, seed: 2 });
    const config = TrainConfig.parse({ space: TEST_SPACE, data: { kind: 'gaussians', classes: 3 }, strategy: 'bignas', steps: 1, batchSize: 16, evalEvery: 1, checkpointEvery: 100 });
    const points: MetricPoint[] = [];
    await train({ config, net: buildTestSupernet(TEST_SPACE, 8), dataset: ds, sink: { metrics: (p) => void points.push(...p), specialization: () => {}, checkpoint: () => {} }, snapshots: 0 });
    // Independent: the same subnets (the sampler's stream), the same first batch, a fresh supernet.
    const rng = createSampler(config);
    const plan = await bignas.plan({ space: config.space, rng, largest: largestArch(TEST_SPACE), smallest: smallestArch(TEST_SPACE), evalArch: largestArch(TEST_SPACE), step: 0, steps: 1, progress: 0, state: undefined });
    const batch = new BatchIterator(ds.train, 16, config.seed + 1).next();
    const net = buildTestSupernet(TEST_SPACE, 8);
    const xs = tf.tensor2d(batch.x, [16, 2]);
    const logits = plan.arches.map((a) => net.apply(xs, a, { training: true }).logits.arraySync());
    const kd = [1, 2, 3].map((i) => softCE(logits[i]!, logits[0]!));
    expect(points[0]!.kdLoss).toBeCloseTo(kd.reduce((a, b) => a + b, 0) / 3, 5);
  });
});

describe('attentive sampling (attentivenas)', () => {
  const space = SearchSpace.parse({
    version: 1, name: 'attentive test', input: { kind: 'vector', dim: 4 }, numClasses: 3,
    stages: [{ id: 's1', depth: [1, 2, 3], block: { type: 'dense', width: [4, 8, 16, 32], activation: 'relu' } }],
  });

  it('each middle subnet is the best (BestUp) or worst (WorstUp) of its candidates by the batch loss, computed independently', async () => {
    const net = buildSupernet(space, { seed: 3 });
    const data = createRng(11);
    const xs = tf.tensor2d(Array.from({ length: 32 * 4 }, () => data.normal()), [32, 4]);
    const yv = Array.from({ length: 32 }, () => data.int(3));
    const ys = tf.tensor1d(yv, 'int32');
    const range: [number, number] = [net.countFlops(smallestArch(space)), net.countFlops(largestArch(space))];
    for (const mode of ['best', 'worst'] as const) {
      const strategy = attentiveStrategy(mode);
      const rng = createRng(5);
      let changedChoice = 0;
      for (let step = 0; step < 6; step++) {
        const replay = createRng(0);
        replay.setState(rng.getState());
        const ctx: StrategyContext = { space, rng, largest: largestArch(space), smallest: smallestArch(space), evalArch: largestArch(space), step, steps: 6, progress: 0, state: undefined };
        const plan = await strategy.plan(ctx, { net, xs, ys });
        expect(plan.arches).toHaveLength(4);
        expect(archKey(plan.arches[0]!)).toBe(archKey(largestArch(space)));
        expect(archKey(plan.arches[3]!)).toBe(archKey(smallestArch(space)));
        for (let slot = 1; slot <= 2; slot++) {
          const candidates = attentiveCandidates(space, net, replay, range);
          const losses = candidates.map((a) => {
            const z = net.apply(xs, a, { training: true }).logits.arraySync();
            return z.reduce((acc, row, i) => acc - Math.log(softmax(row)[yv[i]!]!), 0) / z.length;
          });
          const want = mode === 'best' ? losses.indexOf(Math.min(...losses)) : losses.indexOf(Math.max(...losses));
          expect(archKey(plan.arches[slot]!)).toBe(archKey(candidates[want]!));
          if (want !== 0) changedChoice++;
        }
      }
      // The selection is not the first draw every time (a sampler that ignored the losses would be).
      expect(changedChoice).toBeGreaterThan(0);
    }
  });
});
