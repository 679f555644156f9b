/**
 * Similarity-aware routing (schema, paper and deviations in core/space/routing/similarity.ts): the expert
 * distribution of each token mixed over the token-similarity graph of the rows routed together,
 *   S = softmax_rows(x W_s xᵀ / τ),  p̃ = S · softmax(x W_g),
 * then top-k of p̃, gates from p̃. The mixing lives in the router's logits: it returns log p̃, and since each
 * row of p̃ sums to 1, the shared softmax of ./router.ts `route` gives back p̃ exactly — selection, gates,
 * capacity and balance loss then read the mixed distribution with no change elsewhere. (The ST-MoE z-loss
 * of log p̃ is 0 by construction: use it with plain routers.) W_s is the router's own variable
 * "<layer>.moe.sim.ws" [dMax, dMax] (a width-d subnet uses its top-left [d, d]), lowered to the graph as
 * MoEOp.similarity, which the graph reference and ONNX apply with `mixedLogits`.
 */
import * as tf from '@tensorflow/tfjs';
import type { SimilarityRouting } from '../../space/routing/similarity.js';
import { topKMaskTensor } from '../moe/routers.js';
import { plainKernel, type Router } from './router.js';

/** The smallest probability log p̃ keeps (p̃ of an expert no similar token favours underflows otherwise). */
const MIN_PROB = 1e-30;

/** Token similarities S [T, T] = softmax_rows(x W_s xᵀ / τ). */
export function tokenSimilarity(x: tf.Tensor2D, ws: tf.Tensor2D, temperature: number): tf.Tensor2D {
  return tf.softmax(tf.div(tf.matMul(tf.matMul(x, ws), x, false, true), temperature)) as tf.Tensor2D;
}

/** log(S · softmax(logits)): the mixed distribution as logits (softmax of them is S · softmax(logits)). */
export function mixedLogits(x: tf.Tensor2D, logits: tf.Tensor2D, ws: tf.Tensor2D, temperature: number): tf.Tensor2D {
  return tf.log(tf.maximum(tf.matMul(tokenSimilarity(x, ws, temperature), tf.softmax(logits)), MIN_PROB)) as tf.Tensor2D;
}

/** τ of a routing at router input width d (unset: √d). */
export const similarityTemperature = (r: SimilarityRouting, d: number) => r.temperature ?? Math.sqrt(d);

export const similarity: Router<SimilarityRouting> = {
  mode: 'similarity',
  trainsKernel: true,
  fusable: false,
  params: (_r, { layer, dMax, store }) => ({ vars: { ws: store.add(`${layer.name}.moe.sim.ws`, tf.eye(dMax)) }, borrowed: new Set() }),
  logits: (x, kernel, r, { params }) => {
    const d = x.shape[1];
    const ws = params!.vars.ws!.slice([0, 0], [d, d]) as tf.Tensor2D;
    return mixedLogits(x, tf.matMul(x, kernel) as tf.Tensor2D, ws, similarityTemperature(r, d));
  },
  paramCount: (_r, d) => d * d,
  // x · W_s per token (2d²); the T×T similarity and mixing products grow with the batch and are not counted.
  flopsPerToken: (_r, d) => 2 * d * d,
  activeK: (r, l) => r.k * l.shape.segments,
  select: (probs, r, l) => topKMaskTensor(probs, r.k * l.shape.segments),
  lower: (r, l, kernel, extra) => ({
    gating: { mode: 'topk', k: r.k * l.shape.segments },
    router: plainKernel(kernel),
    similarity: { ws: extra!.slice(extra!.params!.vars.ws!, [0, 0], [extra!.d, extra!.d]), temperature: similarityTemperature(r, extra!.d) },
  }),
};
