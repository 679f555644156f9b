import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { batchNormTrainReference } from './batchNormFused.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
};

describe('fused BatchNorm arithmetic (what the WGSL kernels compute)', () => {
  it('equals tfjs autodiff of Supernet.applyConv’s primitive-op BatchNorm: output, statistics, dy, dγ, dβ', () => {
    const [n, h, w, C] = [3, 4, 5, 6];
    const M = n * h * w;
    const eps = 1e-3;
    const y = tf.add(tf.mul(tf.randomNormal([n, h, w, C], 0, 1, 'float32', 1), 2), 0.5) as tf.Tensor4D;
    const gamma = tf.randomNormal([C], 1, 0.3, 'float32', 2) as tf.Tensor1D;
    const beta = tf.randomNormal([C], 0, 0.3, 'float32', 3) as tf.Tensor1D;
    const dz = tf.randomNormal([n, h, w, C], 0, 1, 'float32', 4);
    // Supernet.applyConv's form.
    const plain = (yi: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
      const mean = tf.mean(yi, [0, 1, 2]);
      const centred = tf.sub(yi, mean);
      const variance = tf.mean(tf.square(centred), [0, 1, 2]);
      return tf.add(tf.mul(tf.mul(centred, tf.rsqrt(tf.add(variance, eps))), g), b);
    };
    const outRef = plain(y, gamma, beta);
    const [dyRef, dgRef, dbRef] = tf.grads(plain)([y, gamma, beta], dz);
    const r = batchNormTrainReference(y.dataSync(), M, C, gamma.dataSync(), beta.dataSync(), dz.dataSync(), eps);
    expect(maxDiff(r.out, outRef.dataSync())).toBeLessThan(1e-4);
    expect(maxDiff(r.mean, tf.mean(y, [0, 1, 2]).dataSync())).toBeLessThan(1e-5);
    expect(maxDiff(r.dy, dyRef!.dataSync())).toBeLessThan(1e-4);
    expect(maxDiff(r.dGamma, dgRef!.dataSync())).toBeLessThan(1e-4);
    expect(maxDiff(r.dBeta, dbRef!.dataSync())).toBeLessThan(1e-4);
    // The statistics' own gradient path matters: dropping the mean terms gives a different dy.
    const naive = Array.from(dz.dataSync(), (d, i) => d * gamma.dataSync()[i % C]! / Math.sqrt(r.variance[i % C]! + eps));
    expect(maxDiff(naive, dyRef!.dataSync())).toBeGreaterThan(1e-2);
  });
});
