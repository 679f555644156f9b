/**
 * The subnet graph's selection ops (core/nn/graph/ops.ts Gating: top-k, top-p, expert choice) on
 * plain arrays — the reference arithmetic every router lowers to (./router.ts
 * `lower`), the same rules as the tensor masks training uses (core/nn/moe/routers.ts) — and as tensor ops
 * over a whole batch (`selectionMaskTensor`, the export graph's reference).
 */
import * as tf from '@tensorflow/tfjs';
import { expertCapacity } from '../../space/routing/expertChoice.js';
import { expertChoiceMask, topKMask, topPMask, type RouteMask } from '../moe/routers.js';
import type { Gating as SubnetGating } from '../graph/ops.js';
import { cappedExpertChoiceMask, cappedExpertChoiceMaskTensor } from './cappedExpertChoice.js';

const selections: { [M in SubnetGating['mode']]: (g: Extract<SubnetGating, { mode: M }>, probs: ArrayLike<number>, T: number, S: number) => RouteMask } = {
  topk: (g, p, T, S) => topKMask(g.bias ? withSelectionBias(p, g.bias, T, S) : p, T, S, g.k),
  topp: (g, p, T, S) => topPMask(p, T, S, g.p, g.maxK),
  'expert-choice': (g, p, T, S) => (g.cap ? cappedExpertChoiceMask : expertChoiceMask)(p, T, S, expertCapacity(g.capacityFactor, T, S), g.cap!),
};

/** Row-major probabilities plus the per-slot loss-free bias: what a biased top-k ranks by (./lossFreeBias.ts). */
function withSelectionBias(p: ArrayLike<number>, bias: readonly number[], T: number, S: number): Float32Array {
  const out = new Float32Array(T * S);
  for (let i = 0; i < T * S; i++) out[i] = Math.fround(p[i]! + bias[i % S]!);
  return out;
}

/** The [T, S] choice of a lowered router on row-major probabilities. */
export function selectionMask(g: SubnetGating, probs: ArrayLike<number>, tokens: number, slots: number): RouteMask {
  return (selections[g.mode] as (g: SubnetGating, p: ArrayLike<number>, T: number, S: number) => RouteMask)(g, probs, tokens, slots);
}

/**
 * The same choice as tensor ops over a batch of probabilities (the export graph's reference, runSubnetGraph):
 * ranks by tf.topk (ties to the lower slot), top-p by the exclusive float32 cumsum rule of topPMask.
 */
export function selectionMaskTensor(probs: tf.Tensor2D, gating: SubnetGating): tf.Tensor2D {
  return tf.tidy(() => {
    const [b, s] = probs.shape;
    if (gating.mode === 'expert-choice') {
      const c = expertCapacity(gating.capacityFactor, b, s);
      if (gating.cap) return cappedExpertChoiceMaskTensor(probs, c, gating.cap);
      const { indices } = tf.topk(probs.transpose(), c, true); // [s, c] token indices per slot
      return tf.sum(tf.oneHot(indices, b), 1).transpose() as tf.Tensor2D;
    }
    // A biased top-k ranks by probs + bias (the gates use probs); top-p ranks by the probabilities themselves.
    const scores = gating.mode === 'topk' && gating.bias ? tf.add(probs, tf.tensor1d(gating.bias)) : probs;
    const { values, indices } = tf.topk(scores, s, true);
    let keepSorted: tf.Tensor2D;
    const position = tf.range(0, s, 1, 'int32').expandDims(0).tile([b, 1]);
    if (gating.mode === 'topk') {
      keepSorted = tf.less(position, gating.k).cast('float32') as tf.Tensor2D;
    } else {
      // Exclusive float32 cumsum in rank order vs float32(p): the rule of core/nn/moe/routers.ts topPMask.
      const before = tf.cumsum(values, 1, true);
      keepSorted = tf.logicalAnd(tf.less(before, Math.fround(gating.p)), tf.less(position, gating.maxK)).cast('float32') as tf.Tensor2D;
    }
    // Scatter the sorted keep flags back to slot order: mask[b, indices[b, r]] = keepSorted[b, r].
    const oneHot = tf.oneHot(indices, s); // [b, s(rank), s(slot)]
    return tf.sum(tf.mul(oneHot, keepSorted.expandDims(2)), 1) as tf.Tensor2D;
  });
}
