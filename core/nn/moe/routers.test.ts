import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { createRng } from '../../space/rng.js';
import {
  applyCapacity,
  capacityMaskTensor,
  expertChoiceMask,
  expertChoiceMaskTensor,
  maskCount,
  topKMask,
  topKMaskTensor,
  topPMask,
  topPMaskTensor,
  withoutGradient,
} from './routers.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

function randomProbs(T: number, S: number, seed: number, sharp = 2): tf.Tensor2D {
  const rng = createRng(seed);
  return tf.softmax(tf.tensor2d(Array.from({ length: T * S }, () => rng.normal() * sharp), [T, S])) as tf.Tensor2D;
}
const asArray = (m: { data: Uint8Array }) => [...m.data];
const tensorArray = (t: tf.Tensor) => [...t.dataSync()];

describe('routers: tensor and array forms agree', () => {
  for (const seed of [1, 2, 3]) {
    it(`on random router probabilities (seed ${seed})`, () => {
      const T = 17;
      const S = 6;
      const probs = randomProbs(T, S, seed);
      const p = probs.dataSync();
      for (const k of [1, 2, 4]) expect(tensorArray(topKMaskTensor(probs, k))).toEqual(asArray(topKMask(p, T, S, k)));
      for (const [pp, maxK] of [
        [0.3, 6],
        [0.7, 6],
        [0.9, 2],
        [1, 6],
      ] as const) {
        expect(tensorArray(topPMaskTensor(probs, pp, maxK))).toEqual(asArray(topPMask(p, T, S, pp, maxK)));
      }
      for (const c of [1, 5, 17]) expect(tensorArray(expertChoiceMaskTensor(probs, c))).toEqual(asArray(expertChoiceMask(p, T, S, c)));
      const pre = topKMask(p, T, S, 2);
      const caps = [3, 3, 3, 3, Infinity, Infinity];
      const { mask, dropped } = applyCapacity(pre, caps);
      const kept = capacityMaskTensor(tf.tensor2d(Float32Array.from(pre.data), [T, S]), tf.tensor1d(caps.map((c) => (c === Infinity ? T + 1 : c))));
      expect(tensorArray(kept)).toEqual(asArray(mask));
      expect(maskCount(pre) - maskCount(mask)).toBe(dropped);
    });
  }

  it('top-k masks hold exactly k ones per row; expert choice exactly C per column', () => {
    const probs = randomProbs(9, 5, 4);
    expect(tensorArray(tf.sum(topKMaskTensor(probs, 3), 1))).toEqual(Array(9).fill(3));
    expect(tensorArray(tf.sum(expertChoiceMaskTensor(probs, 4), 0))).toEqual(Array(5).fill(4));
  });

  it('withoutGradient hides TopK from the tape and passes no gradient', () => {
    const v = tf.variable(tf.randomNormal([3, 4], 0, 1, 'float32', 1));
    const { grads } = tf.variableGrads(() => {
      const probs = tf.softmax(v) as tf.Tensor2D;
      const mask = withoutGradient(probs, () => topKMaskTensor(probs, 1));
      return tf.sum(tf.mul(probs, mask)) as tf.Scalar;
    });
    expect(Object.values(grads)[0]!.shape).toEqual([3, 4]);
    expect(() =>
      tf.variableGrads(() => {
        const probs = tf.softmax(v) as tf.Tensor2D;
        return tf.sum(tf.mul(probs, topKMaskTensor(probs, 1))) as tf.Scalar;
      }),
    ).toThrow(/TopK/);
  });
});
