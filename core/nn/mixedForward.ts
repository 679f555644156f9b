/**
 * The continuous relaxation of a supernet (DARTS, Liu et al., ICLR 2019, §2.2): every arch-vector position
 * ("edge") mixes its candidates with weights w (a softmax of architecture parameters α, or a one-hot for a
 * position already decided), so the output is differentiable in α.
 *
 * - A block position computes each candidate choice of its numeric dimensions with the block's own forward
 *   (the weights are the shared supernet slices) and sums them weighted by the product of the dimensions'
 *   weights (one softmax per dimension: width, channels, kernel, hidden — a factorised DARTS edge); narrower
 *   outputs are zero-padded to the widest. An op position mixes that with the identity (skip) op:
 *   w_main · f(x) + w_identity · x (DARTS's skip_connect candidate).
 * - A depth position mixes the stage's outputs after each candidate depth: Σ_d w_d · h_d.
 * - A block's weighted aux losses (MoE balance terms) are scaled by the candidate's weight.
 * Where candidates differ in spatial size (a strided block beside the identity, or a shallower depth beside
 * a deeper one through strided blocks), the larger are average-pooled 2 × 2 with stride 2 (SAME, as a
 * strided conv's output size) until they match: DARTS's reduction cells give their skip candidate a
 * stride-2 reduction for the same reason (FactorizedReduce); a parameter-free pooling is used here, and
 * only inside the relaxation (a discrete subnet keeps its own spatial sizes).
 *
 * Deviation: where a width relaxes, the next block reads the zero-padded widest input, so a dense block's
 * residual (used where in and out widths match) applies only to the widest candidate.
 */
import * as tf from '@tensorflow/tfjs';
import { describeBlock } from '../space/blocks/registry.js';
import type { BlockChoice } from '../space/SearchSpace.js';
import type { ActivationShape } from './blocks/block.js';
import { convertBatch, inputShape, toLayout } from './blocks/shapes.js';
import { newForwardContext } from './forwardContext.js';
import type { ElasticSupernet } from './Supernet.js';
import type { ForwardOptions, ForwardResult } from './types.js';

/** Zero-pad the last axis to `width`. */
function padTo(x: tf.Tensor, width: number): tf.Tensor {
  const w = x.shape[x.rank - 1]!;
  if (w === width) return x;
  return tf.pad(x, [...Array.from({ length: x.rank - 1 }, () => [0, 0] as [number, number]), [0, width - w]]);
}

function cartesian(sizes: readonly number[]): number[][] {
  return sizes.reduce<number[][]>((acc, n) => acc.flatMap((a) => Array.from({ length: n }, (_, i) => [...a, i])), [[]]);
}

/** Average-pool an image candidate down to `to`'s spatial size (2 × 2, stride 2, SAME, repeatedly). */
function alignSpatial(x: tf.Tensor, from: ActivationShape, to: ActivationShape, where: string): tf.Tensor {
  if (from.spatial[0] === to.spatial[0] && from.spatial[1] === to.spatial[1] && from.length === to.length) return x;
  if (from.layout !== 'image') throw new Error(`DARTS cannot mix the candidates of ${where}: their shapes differ`);
  let h = x as tf.Tensor4D;
  let [a, b] = from.spatial;
  while (a > to.spatial[0] || b > to.spatial[1]) {
    h = tf.avgPool(h, 2, 2, 'same');
    a = Math.ceil(a / 2);
    b = Math.ceil(b / 2);
  }
  if (a !== to.spatial[0] || b !== to.spatial[1]) throw new Error(`DARTS cannot mix the candidates of ${where}: ${from.spatial} does not pool to ${to.spatial}`);
  return h;
}

const smallest = (shapes: readonly ActivationShape[]) => shapes.reduce((m, s) => (s.spatial[0] * s.spatial[1] < m.spatial[0] * m.spatial[1] ? s : m));

/**
 * Forward `x` through the relaxed supernet. `weights[p]` ([n_p]) mixes the n_p choices of arch position p
 * (core/space/archCodec.ts order); one-hot rows make a position discrete.
 */
export function applyMixed(net: ElasticSupernet, x: tf.Tensor, weights: readonly tf.Tensor1D[], opts: ForwardOptions): ForwardResult {
  const space = net.space;
  const ctx = newForwardContext({ training: opts.training, progress: opts.progress });
  let h = x;
  let shape = inputShape(space.input);
  let o = 0;
  const w = (p: number, c: number) => tf.squeeze(tf.slice(weights[p]!, [c], [1])) as tf.Scalar;
  space.stages.forEach((stage, i) => {
    const desc = describeBlock(stage.block);
    const c = toLayout(shape, desc.reads, net.plan.hasConv);
    if (!c) throw new Error(`stage ${stage.id} reads ${desc.reads.join(' or ')}, but a ${shape.layout} reaches it`);
    h = convertBatch(h, c.how);
    shape = c.shape;
    const depthPos = o++;
    const ops = desc.ops?.(stage.block);
    const dims = desc.dims(stage.block);
    const per = (ops ? 1 : 0) + dims.length;
    const maxDepth = Math.max(...stage.depth);
    const outs = new Map<number, { h: tf.Tensor; shape: ActivationShape }>();
    for (let j = 0; j < maxDepth; j++) {
      const base = o + j * per;
      const block = net.blocks[i]![j]!;
      const combos = cartesian(dims.map((d) => d.values.length));
      const parts: { y: tf.Tensor; shape: ActivationShape; weight: tf.Scalar }[] = [];
      for (const combo of combos) {
        const choice: BlockChoice = ops ? { op: desc.mainOp } : {};
        let weight: tf.Scalar = ops ? w(base, ops.indexOf(desc.mainOp)) : tf.scalar(1);
        combo.forEach((v, d) => {
          choice[dims[d]!.key] = dims[d]!.values[v]!;
          weight = tf.mul(weight, w(base + (ops ? 1 : 0) + d, v));
        });
        const before = ctx.losses.length;
        const y = block.apply(h, choice, ctx);
        for (let l = before; l < ctx.losses.length; l++) ctx.losses[l] = { ...ctx.losses[l]!, value: tf.mul(ctx.losses[l]!.value, weight) as tf.Scalar };
        parts.push({ y, shape: block.outShape(choice, shape), weight });
      }
      const identity = ops?.indexOf('identity') ?? -1;
      if (identity >= 0) parts.push({ y: h, shape, weight: w(base, identity) });
      const outShape = smallest(parts.map((p) => p.shape));
      const width = Math.max(...parts.map((p) => p.shape.width));
      h = parts.map((p) => tf.mul(padTo(alignSpatial(p.y, p.shape, outShape, block.name), width), p.weight)).reduce((a, b) => tf.add(a, b));
      shape = { ...outShape, width };
      if (stage.depth.includes(j + 1)) outs.set(j + 1, { h, shape });
    }
    if (stage.depth.length > 1) {
      const cands = stage.depth.map((d, k) => ({ ...outs.get(d)!, weight: w(depthPos, k) }));
      const to = smallest(cands.map((q) => q.shape));
      const width = Math.max(...cands.map((q) => q.shape.width));
      h = cands.map((q) => tf.mul(padTo(alignSpatial(q.h, q.shape, to, `stage ${stage.id}`), width), q.weight)).reduce((a, b) => tf.add(a, b));
      shape = { ...to, width };
    } else {
      const only = outs.get(stage.depth[0]!)!;
      h = only.h;
      shape = only.shape;
    }
    o += maxDepth * per;
  });
  const c = toLayout(shape, ['vector'], net.plan.hasConv);
  if (!c) throw new Error(`the head reads vectors, but a ${shape.layout} reaches it`);
  const v = convertBatch(h, c.how) as tf.Tensor2D;
  const head = net.namedVariables();
  const kernel = head.get('head.kernel')!;
  const d = v.shape[1];
  const logits = tf.add(tf.matMul(v, kernel.slice([0, 0], [d, space.numClasses])), head.get('head.bias')!) as tf.Tensor2D;
  let aux: tf.Scalar = tf.scalar(0);
  for (const l of ctx.losses) aux = tf.add(aux, tf.mul(l.weight, l.value));
  return { logits, auxLoss: aux, moe: ctx.reports };
}
