/**
 * AttentiveNAS with its accuracy-predictor estimator: the middle subnets are the predictor's best (worst)
 * among the same-FLOPs candidates, and the predictor is fitted once, on measured subnets — each against an
 * independent computation. (The loss estimator's tests are in distillation.test.ts.)
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Dataset } from '../../data/Dataset.js';
import { buildSupernet } from '../../nn/Supernet.js';
import { archDims, archKey, canonicalVector, encodeArch, largestArch, sampleArch, smallestArch } from '../../space/archCodec.js';
import { createRng } from '../../space/rng.js';
import { SearchSpace } from '../../space/SearchSpace.js';
import { trainingStrategies } from './registry.js';
import { archPredictor, attentiveCandidates, attentiveStrategy, PREDICTOR_BATCHES, PREDICTOR_FIT_AT, PREDICTOR_SUBNETS, type AttentiveState } from './attentivenas.js';
import { measurementBatches } from './measurementBatches.js';
import { loadSpirals, strategyContext, twoStageSpace } from './strategyFixtures.js';
import type { StrategyContext } from './TrainingStrategy.js';

let spirals: Dataset;
beforeAll(async () => {
  spirals = await loadSpirals();
});

const space = SearchSpace.parse({
  version: 1, name: 'attentive predictor test', input: { kind: 'vector', dim: 4 }, numClasses: 3,
  stages: [{ id: 's1', depth: [1, 2, 3], block: { type: 'dense', width: [4, 8, 16, 32], activation: 'relu' } }],
});

/** The ridge model's prediction written out: intercept + Σ w_j (x_j − mean_j) over the one-hot canonical vector. */
function predictByHand(model: NonNullable<AttentiveState['predictor']>, vector: number[]): number {
  const dims = archDims(space);
  const c = canonicalVector(space, vector);
  const x = dims.flatMap((d, i) => Array.from({ length: d }, (_, k) => (c[i] === k ? 1 : 0)));
  return x.reduce((s, v, j) => s + model.weights[j]! * (v - model.means[j]!), model.intercept);
}

describe('attentivenas-predictor', () => {
  it('is registered, and each middle subnet is the predictor\'s argmax (BestUp) / argmin (WorstUp) among its candidates', async () => {
    expect(trainingStrategies['attentivenas-predictor'].name).toBe('attentivenas-predictor');
    const net = buildSupernet(space, { seed: 3 });
    // A predictor fitted on known scores that do not follow FLOPs: each width's score depends on its index mod 3.
    const rng = createRng(1);
    const vectors = Array.from({ length: 80 }, () => encodeArch(space, sampleArch(space, rng)));
    const known = (v: number[]) => canonicalVector(space, v).reduce((s, g, i) => s + (((g + i) % 3) - 1) * (i + 1), 0);
    const model = archPredictor(space).fit(vectors, vectors.map(known)).ridge!;
    const xs = tf.zeros([8, 4]);
    const ys = tf.zeros([8], 'int32') as tf.Tensor1D;
    const range: [number, number] = [net.countFlops(smallestArch(space)), net.countFlops(largestArch(space))];
    for (const mode of ['best', 'worst'] as const) {
      const strategy = attentiveStrategy(mode, 'predictor');
      const rng = createRng(5);
      let notFirst = 0;
      for (let step = 0; step < 8; step++) {
        const replay = createRng(0);
        replay.setState(rng.getState());
        const ctx: StrategyContext = { ...strategyContext(space, { predictor: model, measured: [] } satisfies AttentiveState, step, 0, 8), rng };
        const plan = await strategy.plan(ctx, { net, xs, ys });
        expect(archKey(plan.arches[0]!)).toBe(archKey(largestArch(space)));
        expect(archKey(plan.arches[3]!)).toBe(archKey(smallestArch(space)));
        for (let slot = 1; slot <= 2; slot++) {
          const candidates = attentiveCandidates(space, net, replay, range);
          const predicted = candidates.map((a) => predictByHand(model, encodeArch(space, a)));
          const want = mode === 'best' ? predicted.indexOf(Math.max(...predicted)) : predicted.indexOf(Math.min(...predicted));
          expect(archKey(plan.arches[slot]!)).toBe(archKey(candidates[want]!));
          if (want !== 0) notFirst++;
        }
      }
      // The choice is not the first (nearest-FLOPs) candidate every time.
      expect(notFirst).toBeGreaterThan(0);
    }
    // Before the predictor is fitted the middle subnets are uniform draws (BigNAS's sandwich).
    const rng2 = createRng(7);
    const replay = createRng(0);
    replay.setState(rng2.getState());
    const early = await attentiveStrategy('best', 'predictor').plan({ ...strategyContext(space, { predictor: null, measured: [] } satisfies AttentiveState, 0, 0), rng: rng2 }, { net, xs, ys });
    expect(early.arches.slice(1, 3).map(archKey)).toEqual([sampleArch(space, replay), sampleArch(space, replay)].map(archKey));
    tf.dispose([xs, ys]);
    net.dispose();
  });

  it(`fits the predictor once, at ${PREDICTOR_FIT_AT} of training, on ${PREDICTOR_SUBNETS} uniform subnets' measured accuracy`, async () => {
    const s2 = twoStageSpace();
    const net = buildSupernet(s2, { seed: 2 });
    const strategy = trainingStrategies['attentivenas-predictor'];
    const state = strategy.init!({ space: s2, steps: 100, batchSize: 32, trainSamples: spirals.train.n, net }) as AttentiveState;
    const access = { net, optimizer: null as never, train: spirals.train, inputShape: spirals.inputShape, batchSize: 32 };
    await strategy.beforeStep!(strategyContext(s2, state, 24, 9), access);
    expect(state.predictor).toBeNull();
    const ctx = strategyContext(s2, state, 25, 9);
    const replay = createRng(0);
    replay.setState(ctx.rng.getState());
    await strategy.beforeStep!(ctx, access);
    // Independent: the same subnets and batches from the sampler's stream, accuracy counted in plain JS.
    const arches = Array.from({ length: PREDICTOR_SUBNETS }, () => sampleArch(s2, replay));
    const batches = measurementBatches(spirals.train, spirals.inputShape, 32, replay, PREDICTOR_BATCHES);
    const accuracy = (a: (typeof arches)[number]) => {
      let hit = 0;
      let n = 0;
      for (const b of batches) {
        const z = net.apply(b.x, a, { training: true }).logits.arraySync();
        const y = b.y.arraySync();
        z.forEach((row, i) => void (hit += row.indexOf(Math.max(...row)) === y[i] ? 1 : 0));
        n += y.length;
      }
      return hit / n;
    };
    expect(state.measured).toHaveLength(PREDICTOR_SUBNETS);
    for (const i of [0, 7, 31]) {
      expect(state.measured[i]!.vector).toEqual(canonicalVector(s2, encodeArch(s2, arches[i]!)));
      expect(state.measured[i]!.accuracy).toBeCloseTo(accuracy(arches[i]!), 6);
    }
    expect(state.predictor).toEqual(archPredictor(s2).fit(arches.map((a) => encodeArch(s2, a)), state.measured.map((m) => m.accuracy)).ridge);
    // Fitted once: a later step keeps it.
    const fitted = state.predictor;
    await strategy.beforeStep!(strategyContext(s2, state, 60, 4), access);
    expect(state.predictor).toBe(fitted);
    for (const b of batches) tf.dispose([b.x, b.y]);
    net.dispose();
  });
});
