/**
 * What a language-model user expects of training (issue 12), each a small function the trainer composes:
 * - tokenCrossEntropy: the causal LM loss, mean next-token cross-entropy over the scored positions
 *   (IGNORE_TARGET positions, a sequence task's prompt, carry no loss), with its sum and count so
 *   evaluation adds batches up exactly;
 * - clipByGlobalNorm: rescale all gradients together when their global L2 norm exceeds a bound (Pascanu et
 *   al., 2013; torch.nn.utils.clip_grad_norm_, nanoGPT's grad_clip = 1.0);
 * - learningRateAt: linear warm-up then cosine decay to a floor (nanoGPT's get_lr; Loshchilov & Hutter,
 *   2017, without restarts);
 * - tokenScores: bits per token and perplexity from a summed natural-log likelihood, with the count n.
 */
import * as tf from '@tensorflow/tfjs';
import { sumTensors } from '../nn/sumTensors.js';
import { IGNORE_TARGET } from '../data/DatasetContract.js';

export interface TokenLoss {
  /** Mean cross-entropy (nats) over the scored positions; 0 when none is scored. */
  mean: tf.Scalar;
  /** Summed cross-entropy (nats) over the scored positions. */
  sum: tf.Scalar;
  /** Scored positions. */
  count: tf.Scalar;
  /** Correct argmax predictions at the scored positions. */
  correct: tf.Scalar;
}

/**
 * logits [N, V] (N = batch · positions, row-major like the targets), targets [N] int32 with
 * IGNORE_TARGET where unscored. One-hot × log-softmax (as crossEntropy in ./evaluate.ts: gather's gradient
 * needs an op the wasm backend lacks); an ignored row's one-hot is all zeros, so it adds nothing.
 */
export function tokenCrossEntropy(logits: tf.Tensor2D, targets: tf.Tensor1D): TokenLoss {
  return tf.tidy(() => {
    const scored = tf.cast(tf.notEqual(targets, IGNORE_TARGET), 'float32');
    const oneHot = tf.oneHot(tf.maximum(tf.cast(targets, 'int32'), tf.scalar(0, 'int32')) as tf.Tensor1D, logits.shape[1]);
    const perToken = tf.mul(tf.neg(tf.sum(tf.mul(oneHot, tf.logSoftmax(logits)), 1)), scored);
    const sum = tf.sum(perToken) as tf.Scalar;
    const count = tf.sum(scored) as tf.Scalar;
    const mean = tf.div(sum, tf.maximum(count, 1)) as tf.Scalar;
    const correct = tf.sum(tf.mul(tf.cast(tf.equal(tf.argMax(logits, 1), targets), 'float32'), scored)) as tf.Scalar;
    return { mean, sum, count, correct };
  });
}

/**
 * Scales every gradient by min(1, maxNorm / ‖g‖₂) where ‖g‖₂ is the norm of all of them together; returns
 * the new map (the given tensors are disposed when replaced) and the norm before clipping.
 */
export function clipByGlobalNorm<K>(grads: Map<K, tf.Tensor>, maxNorm: number): { grads: Map<K, tf.Tensor>; norm: tf.Scalar } {
  if (!(maxNorm > 0)) throw new Error(`gradClip: ${maxNorm} is not a positive norm`);
  const norm = tf.tidy(() => tf.sqrt(sumTensors([...grads.values()].map((g) => tf.sum(tf.square(g))))) as tf.Scalar);
  const scale = tf.tidy(() => tf.minimum(1, tf.div(maxNorm, tf.maximum(norm, 1e-12))));
  const out = new Map<K, tf.Tensor>();
  for (const [k, g] of grads) {
    out.set(k, tf.mul(g, scale));
    g.dispose();
  }
  scale.dispose();
  return { grads: out, norm };
}

export interface LrSchedule {
  /** Peak learning rate. */
  base: number;
  /** Steps of linear warm-up from base / warmupSteps to base. */
  warmupSteps: number;
  totalSteps: number;
  /** The floor at the end of the cosine, as a share of base (nanoGPT: min_lr = lr / 10). */
  minRatio: number;
}

/** Learning rate of 0-based `step`: (step + 1) / warmup · base while warming up, then cosine from base to base · minRatio. */
export function learningRateAt(step: number, s: LrSchedule): number {
  if (step < s.warmupSteps) return (s.base * (step + 1)) / s.warmupSteps;
  const decaySteps = Math.max(1, s.totalSteps - s.warmupSteps);
  const t = Math.min(1, (step - s.warmupSteps) / decaySteps);
  const min = s.base * s.minRatio;
  return min + 0.5 * (1 + Math.cos(Math.PI * t)) * (s.base - min);
}

export interface TokenScores {
  /** Mean cross-entropy in bits per token (bits per character for a character model). */
  bitsPerToken: number;
  /** exp(mean cross-entropy in nats). */
  perplexity: number;
  /** Scored tokens. */
  n: number;
}

export function tokenScores(nllNats: number, n: number): TokenScores {
  const mean = n > 0 ? nllNats / n : NaN;
  return { bitsPerToken: mean / Math.LN2, perplexity: Math.exp(mean), n };
}
