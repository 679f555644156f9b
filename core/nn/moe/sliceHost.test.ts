import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { sliceHost } from './MoELayer.js';

describe('sliceHost (host copies for WebGPU, which cannot read synchronously)', () => {
  it.each([
    { shape: [7], begin: [2], size: [4] },
    { shape: [5, 6], begin: [1, 2], size: [3, 4] },
    { shape: [3, 3, 4, 5], begin: [1, 1, 0, 2], size: [1, 2, 4, 3] },
  ])('equals tf.slice for shape $shape', ({ shape, begin, size }) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = Float32Array.from({ length: n }, (_, i) => i * 0.5 - 3);
    const expected = tf.slice(tf.tensor(data, shape), begin, size).dataSync();
    expect(Array.from(sliceHost(data, shape, begin, size))).toEqual(Array.from(expected));
  });
});
