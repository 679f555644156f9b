import { describe, expect, it } from 'vitest';
import { createRng } from '../space/rng.js';
import { AccuracyPredictor, fitRidge, kendallTau, oneHot, predictRidge, runPredictorGuidedSearch } from './accuracyPredictor.js';
import { hypervolume2d } from './hypervolume.js';
import { randomVector, type Nsga2Problem } from './nsga2.js';

const dims = [3, 4, 4, 4, 4, 4, 4, 2, 4, 4, 4, 4];

/**
 * A synthetic "accuracy" of an arch vector: additive per-choice effects (what widening one layer buys)
 * plus neighbour interactions at a third of the scale and a little measurement noise — the shape real
 * supernet accuracies have, where most of the variance is additive.
 */
function syntheticTarget(seed: number) {
  const rng = createRng(seed);
  const main = dims.map((d) => Array.from({ length: d }, () => rng.normal()));
  const pair = dims.map((d) => Array.from({ length: d * 4 }, () => rng.normal() / 3));
  return (x: readonly number[], noise = 0) =>
    x.reduce((s, v, i) => s + main[i]![v]! + (i + 1 < x.length ? pair[i]![v * 4 + (x[i + 1]! % 4)]! : 0), 0) + noise;
}

describe('kendallTau', () => {
  it('matches a hand count', () => {
    // pairs (1,2) concordant, (1,3) concordant, (2,3) discordant → (2 − 1) / 3
    expect(kendallTau([1, 2, 3], [1, 3, 2])).toBeCloseTo(1 / 3, 12);
    expect(kendallTau([1, 2, 3], [3, 2, 1])).toBe(-1);
  });
});

describe('ridge regression', () => {
  it('recovers an exact linear function', () => {
    // y = 2 + 3·a − b on four points; tiny λ makes the fit (nearly) exact
    const xs = [[0, 0], [1, 0], [0, 1], [1, 1]];
    const ys = xs.map(([a, b]) => 2 + 3 * a! - b!);
    const m = fitRidge(xs, ys, [1e-8]);
    expect(predictRidge(m, [2, 2])).toBeCloseTo(2 + 6 - 2, 4);
  });

  it('one-hot encodes each position', () => {
    expect(oneHot([1, 0], [2, 3])).toEqual([0, 1, 1, 0, 0]);
  });
});

describe('AccuracyPredictor', () => {
  it('ranks held-out subnets of a synthetic target with Kendall τ > 0.7', () => {
    const f = syntheticTarget(11);
    const rng = createRng(5);
    const sample = (n: number) => Array.from({ length: n }, () => randomVector({ kind: 'categorical', dims }, rng));
    const train = sample(80);
    const test = sample(300);
    const p = new AccuracyPredictor(dims).fit(train, train.map((x) => f(x, 0.1 * rng.normal())));
    const tau = kendallTau(test.map((x) => p.predict(x)), test.map((x) => f(x)));
    // The additive part carries ~90 % of the variance; ridge captures it from 80 samples of a space of
    // 3·4¹⁰·2 ≈ 6.3 M subnets. A predictor that learnt nothing scores τ ≈ 0.
    expect(tau).toBeGreaterThan(0.7);
  });
});

describe('predictor-guided search', () => {
  it('beats random sampling at the same number of evaluations', async () => {
    const f = syntheticTarget(3);
    // accuracy in (0,1) rises with f, cost = Σ choice index (a proxy for size); max accuracy, min cost
    const evaluate = (x: readonly number[]) => ({
      objectives: [1 / (1 + Math.exp(-f(x) / 3)), x.reduce((s, v) => s + v, 0)],
    });
    const problem: Nsga2Problem = { variables: { kind: 'categorical', dims }, signs: [-1, 1], evaluate: (x) => evaluate(x) };
    const maxCost = dims.reduce((s, d) => s + d - 1, 0);
    const hv = (pts: number[][]) => hypervolume2d(pts.map(([a, c]) => [1 - a!, c! / maxCost]), [1, 1.1]);

    const guided = await runPredictorGuidedSearch(problem, {
      seed: 1,
      initialSamples: 20,
      perRound: 10,
      rounds: 4,
      cheapObjectives: (x) => [undefined, x.reduce((s, v) => s + v, 0)],
    });
    expect(guided.evaluated.length).toBe(60);
    const rng = createRng(1);
    const random = Array.from({ length: 60 }, () => evaluate(randomVector({ kind: 'categorical', dims }, rng)).objectives);
    const hvGuided = hv(guided.evaluated.map((e) => e.objectives));
    const hvRandom = hv(random);
    expect(hvGuided).toBeGreaterThan(hvRandom * 1.2);
    // the predictions it acted on were informative
    expect(guided.predictionTau.reduce((s, t) => s + t, 0) / guided.predictionTau.length).toBeGreaterThan(0.3);
  });
});
