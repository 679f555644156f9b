/**
 * Loss and accuracy of one subnet on a split, batch by batch (inference mode), resolved to numbers.
 * Search and export reuse it to score subnets of a trained supernet.
 */
import * as tf from '@tensorflow/tfjs';
import { sequentialBatches } from '../data/BatchIterator.js';
import type { Split } from '../data/Dataset.js';
import type { Supernet } from '../nn/types.js';
import type { Arch } from '../space/SearchSpace.js';
import { crossEntropyFused, crossEntropyFusedSupported } from '../nn/webgpu/crossEntropyFused.js';
import { tokenCrossEntropy } from './languageModel.js';

/**
 * Samples per inference batch: big enough to amortise per-op overhead, small enough that MoE layers
 * (whose uncapped dispatch matrices grow as tokens²) stay cheap.
 */
export const EVAL_BATCH = 128;
/**
 * Tokens per inference batch of a sequence dataset (whole sequences): MoE dispatch is quadratic in the
 * tokens of a batch, and 128 sequences of 64 would be 8192 of them.
 */
export const EVAL_BATCH_TOKENS = 1024;

export interface EvaluateOptions {
  /** Use only the first N samples (default: all). */
  limit?: number;
  batchSize?: number;
  inputShape: readonly number[];
}

export interface Evaluation {
  loss: number;
  accuracy: number;
  samples: number;
}

/** Mean softmax cross-entropy of integer labels; written with one-hot × log-softmax because gather's
 * gradient needs UnsortedSegmentSum, which the wasm backend lacks. */
export function crossEntropy(logits: tf.Tensor2D, labels: tf.Tensor1D): tf.Scalar {
  // WebGPU: forward and backward as one kernel each (core/nn/webgpu/crossEntropyFused.ts), same function.
  if (crossEntropyFusedSupported() && labels.dtype === 'int32') return crossEntropyFused(logits, labels);
  return tf.tidy(() => {
    const oneHot = tf.oneHot(labels, logits.shape[1]);
    return tf.neg(tf.mean(tf.sum(tf.mul(oneHot, tf.logSoftmax(logits)), 1))) as tf.Scalar;
  });
}

/** Number of correct predictions in a batch (a scalar, summed so batches can be added up). */
/**
 * Cross-entropy with a weight per sample, mean over the batch: Σ wᵢ·CEᵢ / n (importance-sampled batches,
 * PA&DA: weights 1/(N·pᵢ) keep the loss an unbiased estimate of the uniform-batch loss).
 */
export function weightedCrossEntropy(logits: tf.Tensor2D, labels: tf.Tensor1D, weights: tf.Tensor1D): tf.Scalar {
  return tf.tidy(() => {
    const oneHot = tf.oneHot(labels, logits.shape[1]);
    const perSample = tf.neg(tf.sum(tf.mul(oneHot, tf.logSoftmax(logits)), 1));
    return tf.mean(tf.mul(perSample, weights)) as tf.Scalar;
  });
}

export function correctCount(logits: tf.Tensor2D, labels: tf.Tensor1D): tf.Scalar {
  return tf.tidy(() => tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), labels), 'float32')) as tf.Scalar);
}

export async function evaluateArch(net: Supernet, arch: Arch, split: Split, opts: EvaluateOptions): Promise<Evaluation> {
  const perSample = split.targets && split.n > 0 ? split.targets.length / split.n : 1;
  const batchSize = opts.batchSize ?? (perSample > 1 ? Math.max(1, Math.floor(EVAL_BATCH_TOKENS / perSample)) : EVAL_BATCH);
  let lossSum = 0;
  let correct = 0;
  let n = 0;
  for (const b of sequentialBatches(split, batchSize, opts.limit ?? split.n)) {
    const v = tf.tidy(() => {
      const x = tf.tensor(b.x, [b.size, ...opts.inputShape]);
      // Token datasets score every target position (IGNORE_TARGET ones excluded): n counts scored tokens.
      const y = tf.tensor1d(b.targets ?? b.y, 'int32');
      const out = net.apply(x, arch, { training: false, progress: 1 });
      if (b.targets) {
        const t = tokenCrossEntropy(out.logits, y);
        return tf.stack([t.sum, t.correct, t.count]);
      }
      return tf.stack([tf.mul(crossEntropy(out.logits, y), b.size), correctCount(out.logits, y), tf.scalar(b.size)]);
    });
    // An asynchronous read: WebGPU under Node has no synchronous read-back.
    const read = await v.data();
    v.dispose();
    const l = read[0]!;
    const c = read[1]!;
    lossSum += l;
    correct += c;
    n += read[2]!;
    // Let the event loop breathe between batches (cancellation, IPC) on big test sets.
    await new Promise((r) => setImmediate(r));
  }
  return { loss: n ? lossSum / n : NaN, accuracy: n ? correct / n : NaN, samples: n };
}
