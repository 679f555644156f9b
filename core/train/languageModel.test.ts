import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { IGNORE_TARGET } from '../data/DatasetContract.js';
import { clipByGlobalNorm, learningRateAt, tokenCrossEntropy, tokenScores } from './languageModel.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('causal LM loss', () => {
  it('is the mean −log softmax of the target over scored positions only (plain computation)', () => {
    const logits = [[1, 2, 0.5], [0, 0, 3], [2, -1, 0], [0.3, 0.2, 0.1]];
    const targets = [1, IGNORE_TARGET, 0, 2];
    const l = tokenCrossEntropy(tf.tensor2d(logits), tf.tensor1d(targets, 'int32'));
    const nll = (row: number[], t: number) => -(row[t]! - Math.log(row.reduce((a, v) => a + Math.exp(v), 0)));
    const want = [nll(logits[0]!, 1), nll(logits[2]!, 0), nll(logits[3]!, 2)];
    expect(l.sum.arraySync()).toBeCloseTo(want[0]! + want[1]! + want[2]!, 5);
    expect(l.count.arraySync()).toBe(3);
    expect(l.mean.arraySync()).toBeCloseTo((want[0]! + want[1]! + want[2]!) / 3, 5);
    // Row 0 (argmax 1 = target) and row 2 (argmax 0 = target) are right; the ignored row 1 would be wrong-or-right but is not counted.
    expect(l.correct.arraySync()).toBe(2);
  });

  it('an ignored position gets no gradient; a scored one does', () => {
    const x = tf.variable(tf.tensor2d([[1, 2, 0.5], [0, 0, 3]]));
    const { grads } = tf.variableGrads(() => tokenCrossEntropy(x, tf.tensor1d([1, IGNORE_TARGET], 'int32')).mean, [x]);
    const g = grads[x.name]!.arraySync() as number[][];
    expect(g[1]!.map(Math.abs)).toEqual([0, 0, 0]);
    expect(Math.max(...g[0]!.map(Math.abs))).toBeGreaterThan(0.1);
  });
});

describe('gradient clipping by global norm', () => {
  it('rescales all gradients together to the bound, and leaves small ones alone', () => {
    const big = new Map([['a', tf.tensor1d([3, 0])], ['b', tf.tensor1d([0, 4])]]);
    const { grads, norm } = clipByGlobalNorm(big, 1);
    expect(norm.arraySync()).toBeCloseTo(5, 6);
    expect(grads.get('a')!.arraySync()).toEqual([expect.closeTo(0.6, 6), 0]);
    expect(grads.get('b')!.arraySync()).toEqual([0, expect.closeTo(0.8, 6)]);
    const small = clipByGlobalNorm(new Map([['a', tf.tensor1d([0.3, 0.4])]]), 1);
    expect(small.grads.get('a')!.arraySync()).toEqual([expect.closeTo(0.3, 6), expect.closeTo(0.4, 6)]);
    expect(() => clipByGlobalNorm(new Map(), 0)).toThrow(/gradClip/);
  });
});

describe('warm-up + cosine learning rate', () => {
  const s = { base: 1e-3, warmupSteps: 10, totalSteps: 110, minRatio: 0.1 };
  it('rises linearly, peaks at base, halves the way at mid-decay, ends at the floor', () => {
    expect(learningRateAt(0, s)).toBeCloseTo(1e-4, 12);
    expect(learningRateAt(4, s)).toBeCloseTo(5e-4, 12);
    expect(learningRateAt(10, s)).toBeCloseTo(1e-3, 12);
    expect(learningRateAt(60, s)).toBeCloseTo(1e-4 + 0.5 * 9e-4, 12);
    expect(learningRateAt(110, s)).toBeCloseTo(1e-4, 12);
    expect(learningRateAt(500, s)).toBeCloseTo(1e-4, 12);
    for (let t = 11; t < 110; t++) expect(learningRateAt(t, s)).toBeLessThan(learningRateAt(t - 1, s));
  });
});

describe('token scores', () => {
  it('bits per token = nats / ln 2, perplexity = e^nats, with n', () => {
    expect(tokenScores(Math.LN2 * 30, 10)).toEqual({ bitsPerToken: expect.closeTo(3, 12), perplexity: expect.closeTo(8, 9), n: 10 });
  });
});
