import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { installBroadcastReductionGradients } from './reductionGradients.js';

describe('installBroadcastReductionGradients', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
    installBroadcastReductionGradients();
  });

  it('gives dSum/dx = dy broadcast over the reduced axes', () => {
    const x = tf.randomNormal([3, 4, 5], 0, 1, 'float32', 1);
    const w = tf.randomNormal([3, 5], 0, 1, 'float32', 2);
    // d/dx Σ_{i,k} w[i,k] · Σ_j x[i,j,k] = w[i,k] for every j
    const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.sum(t, 1), w)))(x);
    const want = tf.tile(w.expandDims(1), [1, 4, 1]);
    expect(tf.max(tf.abs(tf.sub(g, want))).dataSync()[0]).toBeLessThan(1e-6);
  });

  it('gives dMean/dx = dy / count, negative axes and keepDims included', () => {
    const x = tf.randomNormal([2, 6], 0, 1, 'float32', 3);
    const g = tf.grad((t: tf.Tensor) => tf.sum(tf.square(tf.mean(t, -1, true))))(x);
    const m = tf.mean(x, -1, true);
    const want = tf.tile(tf.div(tf.mul(2, m), 6), [1, 6]);
    expect(tf.max(tf.abs(tf.sub(g, want))).dataSync()[0]).toBeLessThan(1e-6);
    const all = tf.grad((t: tf.Tensor) => tf.mean(t))(x);
    expect(all.dataSync().every((v) => Math.abs(v - 1 / 12) < 1e-7)).toBe(true);
  });
});
