/**
 * ProMoE prototypical routing (schema, paper, defaults and deviations in core/space/routing/prototype.ts):
 * scores S = α · cos(x, p_j) with the prototypes p_j the router kernel's columns, chosen by top-k and used
 * as the gates (the identity activation, `scores`); the routing contrastive loss `routingContrastiveLoss`.
 * Lowered as the graph's dense router over the L2-normalised input with kernel α · p_j / |p_j| and
 * MoEOp.prototype (scores = logits), which the graph reference and ONNX evaluate.
 */
import * as tf from '@tensorflow/tfjs';
import type { PrototypeRouting } from '../../space/routing/prototype.js';
import { topKMaskTensor, withoutGradient } from '../moe/routers.js';
import type { WeightArray } from '../graph/ops.js';
import type { Router } from './router.js';

const EPS = 1e-12;

/**
 * Rows scaled to unit L2 norm, x / √(|x|² + ε²) (a zero row stays zero, with a finite gradient: a ReLU
 * layer before the router can output all-zero rows, where the gradient of |x| is 0/0). Equal in float32 to
 * x / max(|x|, ε), what the exported graph computes.
 */
export function l2Rows(x: tf.Tensor2D): tf.Tensor2D {
  return tf.div(x, tf.sqrt(tf.add(tf.sum(tf.square(x), 1, true), EPS * EPS))) as tf.Tensor2D;
}

/** α · cos(x_i, p_j) for x [T, d] and prototypes as the columns of W [d, S]. */
export function cosineScores(x: tf.Tensor2D, kernel: tf.Tensor2D, scale: number): tf.Tensor2D {
  return tf.mul(scale, tf.matMul(l2Rows(x), l2Rows(tf.transpose(kernel) as tf.Tensor2D), false, true)) as tf.Tensor2D;
}

/**
 * Eq. (6): m_i the mean of the tokens chosen for expert i (chosen [T, S], no gradient), over the experts that
 * got tokens: −mean_i log softmax_j(cos(p_i, m_j)/τ)[i]. Zero when fewer than two experts got tokens.
 */
export function routingContrastiveLoss(x: tf.Tensor2D, kernel: tf.Tensor2D, chosen: tf.Tensor2D, temperature: number): tf.Scalar {
  const counts = tf.sum(chosen, 0); // [S]
  const means = tf.div(tf.matMul(chosen, x, true, false), tf.maximum(counts, 1).reshape([-1, 1])) as tf.Tensor2D; // [S, d]
  // Which experts got tokens: a constant of the choice (comparisons have no gradient in tfjs).
  const active = withoutGradient(counts, () => tf.cast(tf.greater(counts, 0), 'float32')); // [S]
  const sims = tf.div(tf.matMul(l2Rows(tf.transpose(kernel) as tf.Tensor2D), l2Rows(means), false, true), temperature); // [S(p), S(m)]
  // Inactive experts are neither anchors nor negatives.
  const masked = tf.add(sims, tf.mul(tf.sub(active, 1), 1e9).reshape([1, -1]));
  const logp = tf.sub(masked, tf.logSumExp(masked, 1, true));
  const diag = tf.sum(tf.mul(logp, tf.eye(kernel.shape[1])), 1); // [S]
  const nActive = tf.sum(active);
  const loss = tf.div(tf.neg(tf.sum(tf.mul(diag, active))), tf.maximum(nActive, 1));
  const several = withoutGradient(nActive, () => tf.cast(tf.greater(nActive, 1), 'float32'));
  return tf.mul(loss, several) as tf.Scalar;
}

export const prototype: Router<PrototypeRouting> = {
  mode: 'prototype',
  trainsKernel: true,
  fusable: false,
  logits: (x, kernel, r) => cosineScores(x, kernel, r.scale),
  scores: (logits) => logits,
  prototypes: (kernel) => tf.transpose(kernel) as tf.Tensor2D,
  activeK: (r, l) => r.k * l.shape.segments,
  select: (scores, r, l) => topKMaskTensor(scores, r.k * l.shape.segments),
  auxLosses: (r, { x, kernel, chosen }) => (r.rclWeight > 0 ? [{ name: 'rcl', weight: r.rclWeight, value: routingContrastiveLoss(x, kernel, chosen, r.rclTemperature) }] : []),
  lower: (r, l, kernel) => {
    const [d, S] = kernel.shape as [number, number];
    const k = new Float32Array(d * S);
    for (let s = 0; s < S; s++) {
      let n = 0;
      for (let i = 0; i < d; i++) n += kernel.data[i * S + s]! ** 2;
      const f = r.scale / Math.max(Math.sqrt(n), EPS);
      for (let i = 0; i < d; i++) k[i * S + s] = kernel.data[i * S + s]! * f;
    }
    const unit: WeightArray = { data: k, shape: [d, S] };
    return { gating: { mode: 'topk', k: r.k * l.shape.segments }, router: { kernel: unit, bias: null }, prototype: true };
  },
};
