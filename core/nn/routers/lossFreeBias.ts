/**
 * Auxiliary-loss-free load balancing (Wang et al., 2024, "Auxiliary-Loss-Free Load Balancing Strategy for
 * Mixture-of-Experts", Algorithm 1; DeepSeek-V3 technical report, 2024, §2.1.2): each routed expert i has a
 * bias b_i that is added to its gating score for the top-k choice only,
 *   chosen = TopK(s_i + b_i),   gate_i = s_i (the unbiased score; renormalised ones too),
 * and after each training step b_i ← b_i + u · sign(c̄ − c_i), c_i the assignments expert i got in the
 * batch (before capacity drops) and c̄ their mean over the experts; u = 0.001 in both papers. No gradient
 * flows through b: balance comes from the bias, not from a loss.
 *
 * Deviations, stated: the scores s here are the layer's softmax probabilities (Wang et al. evaluate softmax
 * and sigmoid gates; DeepSeek-V3 uses sigmoid affinities — a block's routers here are softmax); and the
 * bias moves only on FFN columns (null / zero / copy / constant slots keep b = 0 and are left out of the
 * mean: their use is governed by their own losses, AdaMoE / MoE++). The update runs in the training forward
 * pass, after that pass's choice (so the next step routes with it) — Algorithm 1's "after each batch".
 *
 * Batched and plain-array forms: the layer uses the tensor ones; the plain ones are the reference the tests
 * and the subnet-graph selection (./selection.ts, bias on the top-k choice) compute by.
 */
import * as tf from '@tensorflow/tfjs';
import type { ColumnKind } from '../graph/ops.js';

/** Scores the choice ranks by: probs [T, S] + bias [S] (the gates keep using probs). */
export function biasedScores(probs: tf.Tensor2D, bias: tf.Tensor1D): tf.Tensor2D {
  return tf.add(probs, bias) as tf.Tensor2D;
}

/** b + u · sign(mean_FFN(c) − c) on FFN columns, unchanged elsewhere; chosen [T, S] 0/1 before drops. */
export function lossFreeBiasStep(bias: tf.Tensor1D, chosen: tf.Tensor2D, columns: readonly ColumnKind[], u: number): tf.Tensor1D {
  const ffn = tf.tensor1d(columns.map((c) => (c === 'ffn' ? 1 : 0)));
  const nFfn = Math.max(1, columns.filter((c) => c === 'ffn').length);
  const counts = tf.sum(chosen, 0);
  const mean = tf.div(tf.sum(tf.mul(counts, ffn)), nFfn);
  return tf.add(bias, tf.mul(tf.mul(u, tf.sign(tf.sub(mean, counts))), ffn)) as tf.Tensor1D;
}

/** The plain-array update (reference): counts per column of a [T, S] row-major 0/1 mask. */
export function lossFreeBiasStepPlain(bias: readonly number[], chosen: ArrayLike<number>, tokens: number, columns: readonly ColumnKind[], u: number): number[] {
  const S = columns.length;
  const counts = new Array<number>(S).fill(0);
  for (let t = 0; t < tokens; t++) for (let s = 0; s < S; s++) counts[s]! += chosen[t * S + s]!;
  const ffn = columns.map((c) => c === 'ffn');
  const mean = counts.reduce((a, c, s) => a + (ffn[s] ? c : 0), 0) / Math.max(1, ffn.filter(Boolean).length);
  return bias.map((b, s) => (ffn[s] ? b + u * Math.sign(mean - counts[s]!) : b));
}
