import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { createRng } from '../space/rng.js';
import { conv2dIm2col, samePadding } from './conv.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const rnd = (shape: number[], seed: number) => {
  const rng = createRng(seed);
  return tf.tensor(Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.normal()), shape);
};
const maxDiff = (a: tf.Tensor, b: tf.Tensor) => tf.max(tf.abs(tf.sub(a, b))).arraySync() as number;

describe('conv2dIm2col', () => {
  it('pads like TensorFlow "same"', () => {
    expect(samePadding(28, 5, 2)).toEqual({ out: 14, before: 1 });
    expect(samePadding(7, 3, 2)).toEqual({ out: 4, before: 1 });
    expect(samePadding(5, 1, 1)).toEqual({ out: 5, before: 0 });
  });

  for (const [stride, k, size] of [
    [1, 3, 7],
    [2, 5, 9],
    [2, 3, 8],
    [1, 1, 4],
  ] as const) {
    it(`matches tf.conv2d and its gradients (stride ${stride}, kernel ${k}, ${size}×${size})`, () => {
      const x = rnd([2, size, size, 3], 1) as tf.Tensor4D;
      const kernel = rnd([k, k, 3, 4], 2) as tf.Tensor4D;
      expect(maxDiff(conv2dIm2col(x, kernel, stride), tf.conv2d(x, kernel, stride, 'same'))).toBeLessThan(1e-4);
      const loss = (f: (a: tf.Tensor4D, b: tf.Tensor4D) => tf.Tensor) => (a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.square(f(a as tf.Tensor4D, b as tf.Tensor4D)));
      const [gx1, gk1] = tf.grads(loss((a, b) => conv2dIm2col(a, b, stride)))([x, kernel]);
      const [gx2, gk2] = tf.grads(loss((a, b) => tf.conv2d(a, b, stride, 'same')))([x, kernel]);
      const scale = tf.max(tf.abs(gk2!)).arraySync() as number;
      expect(maxDiff(gx1!, gx2!) / scale).toBeLessThan(1e-5);
      expect(maxDiff(gk1!, gk2!) / scale).toBeLessThan(1e-5);
    });
  }
});
