import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { im2colGeometry, im2colSource } from './convFilterGrad.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('im2col filter gradient index math (what the WGSL kernel computes)', () => {
  for (const [shape, k, stride] of [
    [[2, 7, 6, 3], 3, 1],
    [[2, 9, 8, 2], 5, 2],
    [[1, 6, 6, 4], 3, 2],
  ] as [[number, number, number, number], number, 1 | 2][]) {
    it(`colsᵀ · dy equals tf.conv2d's kernel gradient: x [${shape}], ${k}×${k}, stride ${stride}`, () => {
      const cout = 3;
      const x = tf.randomNormal(shape, 0, 1, 'float32', 1) as tf.Tensor4D;
      const kern = tf.randomNormal([k, k, shape[3]!, cout], 0, 1, 'float32', 2) as tf.Tensor4D;
      const g = im2colGeometry(shape, k, stride);
      const dy = tf.randomNormal([g.n, g.ho, g.wo, cout], 0, 1, 'float32', 3) as tf.Tensor4D;
      const [, dKRef] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, stride, 'same'))([x, kern], dy);
      expect(dy.shape).toEqual(tf.conv2d(x, kern, stride, 'same').shape);
      const xs = x.dataSync();
      const dys = dy.dataSync();
      const rows = g.n * g.ho * g.wo;
      const kkc = k * k * g.cin;
      const dK = new Float64Array(kkc * cout);
      for (let r = 0; r < rows; r++) {
        for (let c = 0; c < kkc; c++) {
          const src = im2colSource(g, r, c);
          if (src < 0) continue;
          for (let o = 0; o < cout; o++) dK[c * cout + o]! += xs[src]! * dys[r * cout + o]!;
        }
      }
      const ref = dKRef!.dataSync();
      let err = 0;
      for (let i = 0; i < ref.length; i++) err = Math.max(err, Math.abs(ref[i]! - dK[i]!));
      expect(err).toBeLessThan(1e-4);
      tf.dispose([x, kern, dy, dKRef!]);
    });
  }
});
