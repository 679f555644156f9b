/**
 * MixER (Mixture of Expert Reconstructors, 2025; schema, defaults and deviations in
 * core/space/routing/mixer.ts): top-1 to the nearest of S non-trainable centroids, the columns of the
 * router kernel [dMax, S] (a subnet of input width d uses their first d coordinates, as it slices the
 * kernel of the other routers). No gradient trains the gate: the logits are computed off the tape, and
 * while training each centroid takes a mini-batch K-means step towards the mean of the features routed
 * to it, c ← decay·c + (1 − decay)·mean (a centroid no token chose is restarted on a far token, or stays).
 *
 * Nearest centroid = argmin |x − c|² = argmax (2 x·c − |c|²): that is the logit, so softmax, top-1 and
 * the renormalised gate (exactly 1 on the chosen expert) are the top-k machinery of every other path, and
 * the export lowers to the graph's dense router (kernel 2C, bias −|c|²) and its top-1 selection: no new op.
 */
import * as tf from '@tensorflow/tfjs';
import type { MixerRouting } from '../../space/routing/mixer.js';
import { topKMaskTensor, withoutGradient } from '../moe/routers.js';
import type { WeightArray } from '../graph/ops.js';
import type { Router } from './router.js';

/** 2 x·C − |C|² per column: the logits of nearest-centroid routing ([T, S]). */
export function centroidLogits(x: tf.Tensor2D, centroids: tf.Tensor2D): tf.Tensor2D {
  return tf.sub(tf.mul(2, tf.matMul(x, centroids)), tf.sum(tf.square(centroids), 0, true)) as tf.Tensor2D;
}

/**
 * The K-means / EMA step of the centroids' first d rows, the rest of the kernel unchanged. With
 * `restartDead`, a centroid no token chose moves onto a token of the largest cluster, the one farthest
 * from its centroid (the next farthest for the next dead centroid, …): the largest cluster is split, as
 * K-means implementations treat empty clusters. Without it, centroids that start away from the data never
 * win a token and the layer collapses onto one expert (measured on the spirals example: load [1, 0, 0, 0]);
 * restarting on the farthest token of any cluster picks outliers, which die again the next batch.
 */
export function centroidStep(x: tf.Tensor2D, chosen: tf.Tensor2D, kernel: tf.Tensor2D, decay: number, restartDead = false): tf.Tensor2D {
  const [T, d] = x.shape;
  const [dMax, S] = kernel.shape;
  const c = kernel.slice([0, 0], [d, S]);
  const counts = tf.sum(chosen, 0, true); // [1, S]
  const mean = tf.div(tf.matMul(x, chosen, true, false), tf.maximum(counts, 1)); // [d, S]
  const moved = tf.add(tf.mul(decay, c), tf.mul(1 - decay, mean));
  let next = tf.where(tf.broadcastTo(tf.greater(counts, 0), [d, S]), moved, c) as tf.Tensor2D;
  const K = Math.min(T, S);
  if (restartDead && K > 0) {
    // Squared distance of each token to its chosen centroid: |x|² − (2 x·c − |c|²) at the chosen slot.
    const best = tf.sum(tf.mul(centroidLogits(x, c as tf.Tensor2D), chosen), 1);
    // Only tokens of the largest cluster qualify (it is split, as K-means implementations treat empty clusters).
    const largest = tf.reshape(tf.matMul(chosen, tf.oneHot(tf.argMax(counts, 1), S).reshape([S, 1]) as tf.Tensor2D), [T]);
    const far = tf.sub(tf.mul(tf.add(tf.sub(tf.sum(tf.square(x), 1), best), 1), largest), 1);
    const order = tf.topk(far, K).indices; // [K] farthest tokens first
    const dead = tf.cast(tf.equal(counts, 0), 'float32').reshape([S]);
    const rank = tf.sub(tf.cumsum(dead), 1); // i-th dead centroid → rank i
    const pick = tf.mul(tf.cast(tf.oneHot(tf.cast(tf.maximum(rank, 0), 'int32'), K), 'float32'), tf.mul(dead, tf.cast(tf.less(rank, K), 'float32')).reshape([S, 1])); // [S, K]
    const replacement = tf.transpose(tf.matMul(pick, tf.gather(x, order))); // [d, S]
    const restart = tf.broadcastTo(tf.greater(tf.sum(pick, 1).reshape([1, S]), 0), [d, S]);
    next = tf.where(restart, replacement, next) as tf.Tensor2D;
  }
  return (d < dMax ? tf.concat([next, kernel.slice([d, 0], [dMax - d, S])], 0) : next) as tf.Tensor2D;
}

export const mixer: Router<MixerRouting> = {
  mode: 'mixer',
  trainsKernel: false,
  fusable: false,
  lowersWithBias: true,
  logits: (x, centroids) => withoutGradient(x, () => centroidLogits(x, centroids)),
  activeK: (_r, l) => l.shape.segments,
  select: (probs, _r, l) => topKMaskTensor(probs, l.shape.segments),
  update: (x, chosen, kernel, r) => {
    const next = withoutGradient(x, () => centroidStep(x, chosen, kernel as tf.Tensor2D, r.decay, r.restartDead));
    kernel.assign(next);
    next.dispose();
  },
  lower: (_r, l, kernel) => {
    const [d, S] = kernel.shape as [number, number];
    const k2 = Float32Array.from(kernel.data, (v) => 2 * v);
    const bias = new Float32Array(S);
    for (let i = 0; i < d; i++) for (let s = 0; s < S; s++) bias[s] -= kernel.data[i * S + s]! ** 2;
    const b: WeightArray = { data: bias, shape: [S] };
    return { gating: { mode: 'topk', k: l.shape.segments }, router: { kernel: { data: k2, shape: [d, S] }, bias: b } };
  },
};
