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

/** `n` batches of up to `batchSize` samples; `half`: only from that half of the 50/50 split (below). */
export function measurementBatches(train: Split, inputShape: readonly number[], batchSize: number, rng: Rng, n: number, half?: TrainHalf): MeasurementBatch[] {
  const per = inputShape.reduce((a, b) => a * b, 1);
  const size = Math.min(batchSize, train.n);
  return Array.from({ length: n }, () => {
    const idx = Array.from({ length: size }, () => (half ? sampleHalfIndex(rng, train.n, half) : rng.int(train.n)));
    const x = new Float32Array(size * per);
    idx.forEach((s, r) => x.set(train.x.subarray(s * per, (s + 1) * per), r * per));
    return { x: tf.tensor(x, [size, ...inputShape]), y: tf.tensor1d(Int32Array.from(idx, (s) => train.y[s]!), 'int32') };
  });
}

/**
 * The 50/50 split of the training samples that bilevel methods use (DARTS, Liu et al. 2019, §3: half of
 * the training set updates the weights, the other half the architecture side; BMoS does the same): even
 * positions of the training split train the weights, odd ones the architecture parameters / assignments.
 */
export type TrainHalf = 'weights' | 'architecture';

/** One training-split index of `half`, uniformly (n: training samples, at least 2). */
export function sampleHalfIndex(rng: Rng, n: number, half: TrainHalf): number {
  if (n < 2) throw new Error('a 50/50 split of the training samples needs at least 2 of them');
  return half === 'weights' ? 2 * rng.int(Math.ceil(n / 2)) : 2 * rng.int(Math.floor(n / 2)) + 1;
}

/** The step's weight batch from the weights half (for `sampleBatch`). */
export function weightHalfBatch(rng: Rng, trainSamples: number, batchSize: number): { indices: number[]; weights: null } {
  return { indices: Array.from({ length: batchSize }, () => sampleHalfIndex(rng, trainSamples, 'weights')), weights: null };
}
