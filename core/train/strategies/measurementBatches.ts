/**
 * Batches a strategy measures on outside the step's own (few-shot's gradient matching, SuperTickets'
 * regrowth gradient): samples drawn with replacement from the training split by the sampler RNG, so a
 * resumed run measures on the same ones.
 */
import * as tf from '@tensorflow/tfjs';
import type { Split } from '../../data/Dataset.js';
import type { Rng } from '../../space/rng.js';

export interface MeasurementBatch {
  x: tf.Tensor;
  y: tf.Tensor1D;
}

export function measurementBatches(train: Split, inputShape: readonly number[], batchSize: number, rng: Rng, n: number): MeasurementBatch[] {
  const per = inputShape.reduce((a, b) => a * b, 1);
  const size = Math.min(batchSize, train.n);
  return Array.from({ length: n }, () => {
    const idx = Array.from({ length: size }, () => rng.int(train.n));
    const x = new Float32Array(size * per);
    idx.forEach((s, r) => x.set(train.x.subarray(s * per, (s + 1) * per), r * per));
    return { x: tf.tensor(x, [size, ...inputShape]), y: tf.tensor1d(Int32Array.from(idx, (s) => train.y[s]!), 'int32') };
  });
}
