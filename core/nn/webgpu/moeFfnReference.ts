/**
 * The MoE FFN in plain tfjs ops: the semantics the fused WebGPU kernels (moeFfnFused) must match, and the
 * baseline they are timed against. Runs on every backend with gradients (cpu, wasm-free paths only:
 * gather's gradient is UnsortedSegmentSum).
 *
 * Semantics, for x [T, d], routerW [d, E], w1 [E, d, h], b1 [E, h], w2 [E, h, d], b2 [E, d]:
 *   probs = softmax(x · routerW)                                  [T, E]
 *   expertIndex[t, r] = the r-th largest probs[t, :] (ties → lower expert index, as tf.topk)
 *   position of assignment (t, r) within expert e = number of assignments to e that come before it in
 *     priority order — 'rank' (default): (r, t), all first choices in token order, then all second
 *     choices, … (GShard, Lepikhin et al., 2021); 'token': (t, r), tokens in order with their choices
 *     together. keep[t, r] = position < capacity; dropped assignments add nothing.
 *   gate[t, r] = probs[t, expertIndex[t, r]]; with `normalize`, divided by Σ_r of them (GShard top-2,
 *     Mixtral) — else the raw probability (Switch, Fedus et al., 2021). Normalisation runs before drops.
 *   y[t] = Σ_r keep[t, r] · gate[t, r] · (relu(x[t] · w1[e] + b1[e]) · w2[e] + b2[e]),  e = expertIndex[t, r]
 * Gradients flow to x (both through the experts and the router), routerW, w1, b1, w2, b2; routing
 * decisions (top-k, positions) are constants.
 */
import * as tf from '@tensorflow/tfjs';
import type { RoutePriority } from './moeKernels.js';

export interface MoeFfnOptions {
  /** Experts per token. */
  k: number;
  /** Slots per expert (integer); see expertCapacity. */
  capacity: number;
  /** Renormalise the k gates of a token to sum to one. Default false. */
  normalize?: boolean;
  /** Capacity priority: 'rank' (GShard, default) or 'token' (token order). */
  priority?: RoutePriority;
}

export interface MoeFfnResult {
  /** [T, d] the layer's output. */
  y: tf.Tensor2D;
  /** [T, E] router probabilities (differentiable: balance losses use them). */
  probs: tf.Tensor2D;
  /** [T, k] int32 chosen experts. */
  expertIndex: tf.Tensor2D;
  /** [T, k] 1 where the assignment fit within capacity, else 0. */
  keep: tf.Tensor2D;
}

/** Slots per expert for a capacity factor: ceil(factor · T · k / E) (Switch Transformer's rule). */
export function expertCapacity(tokens: number, k: number, experts: number, factor: number): number {
  return Math.max(1, Math.ceil((factor * tokens * k) / experts));
}

/**
 * A second handle on `t`'s data with no link to the gradient tape (a stop-gradient). Integer routing
 * tensors must stay off the tape: tfjs requires every gradient to be float32, and TopK has none.
 */
export function detach<T extends tf.Tensor>(t: T): T {
  const alias = tf.engine().makeTensorFromTensorInfo({ dataId: t.dataId, shape: t.shape, dtype: t.dtype }) as T;
  // The backend counts references per buffer: the alias holds one, so disposing it frees nothing else.
  (tf.engine().backend as unknown as { incRef(dataId: object): void }).incRef(t.dataId);
  return alias;
}

/** Routing constants (off the tape): chosen experts, positions and keep mask. */
export function routeTopKReference(
  probs: tf.Tensor2D,
  k: number,
  capacity: number,
  priority: RoutePriority = 'rank',
): { expertIndex: tf.Tensor2D; position: tf.Tensor2D; keep: tf.Tensor2D } {
  const [T, E] = probs.shape;
  const p = detach(probs);
  const out = tf.tidy(() => {
    const expertIndex = tf.topk(p, k).indices as tf.Tensor2D; // [T, k] int32
    // Priority order: (r, t) → row r·T + t; (t, r) → row t·k + r.
    const rankFirst = priority === 'rank';
    const order = (rankFirst ? tf.transpose(expertIndex) : expertIndex).reshape([k * T]);
    const oneHot = tf.oneHot(order, E).toFloat(); // [kT, E]
    const before = tf.cumsum(oneHot, 0, true); // exclusive
    const inOrder = tf.sum(tf.mul(before, oneHot), 1);
    const position = (rankFirst ? inOrder.reshape([k, T]).transpose() : inOrder.reshape([T, k])).toInt() as tf.Tensor2D;
    const keep = tf.less(position, capacity).toFloat() as tf.Tensor2D;
    return { expertIndex, position, keep };
  });
  p.dispose();
  return out;
}

/** gate[t, r] = probs[t, expertIndex[t, r]] (optionally normalised) × keep, differentiable in probs. */
export function gatesFromProbs(
  probs: tf.Tensor2D,
  expertIndex: tf.Tensor2D,
  keep: tf.Tensor2D,
  normalize: boolean,
): tf.Tensor2D {
  return tf.tidy(() => {
    const [T, E] = probs.shape;
    const k = expertIndex.shape[1];
    const oneHot = tf.oneHot(expertIndex.reshape([T * k]), E).toFloat().reshape([T, k, E]);
    let gates = tf.sum(tf.mul(oneHot, probs.expandDims(1)), 2) as tf.Tensor2D;
    if (normalize) gates = tf.div(gates, tf.sum(gates, 1, true));
    return tf.mul(gates, keep);
  });
}

export function moeFfnReference(
  x: tf.Tensor2D,
  routerW: tf.Tensor2D,
  w1: tf.Tensor3D,
  b1: tf.Tensor2D,
  w2: tf.Tensor3D,
  b2: tf.Tensor2D,
  opts: MoeFfnOptions,
): MoeFfnResult {
  const [T, d] = x.shape;
  const E = routerW.shape[1];
  const { k, capacity: C } = opts;
  const probs = tf.softmax(tf.matMul(x, routerW)) as tf.Tensor2D;
  const { expertIndex, position, keep } = routeTopKReference(probs, k, C, opts.priority ?? 'rank');
  const y = tf.tidy(() => {
    const gates = gatesFromProbs(probs, expertIndex, keep, opts.normalize ?? false);
    // slot of each assignment; dropped ones point at a spare segment E·C.
    const slot = tf.where(
      tf.greater(keep, 0),
      tf.add(tf.mul(expertIndex, tf.scalar(C, 'int32')), position),
      tf.fill([T, k], E * C, 'int32'),
    ).reshape([T * k]) as tf.Tensor1D;
    const tokenPlusOne = tf.range(1, T + 1, 1, 'float32').expandDims(1).tile([1, k]).reshape([T * k]);
    const slotToken = tf.unsortedSegmentSum(tokenPlusOne, slot, E * C + 1).slice(0, E * C).sub(1).toInt();
    const filled = tf.greaterEqual(slotToken, 0).toFloat().expandDims(1);
    const xe = tf.mul(tf.gather(x, tf.maximum(slotToken, tf.scalar(0, 'int32'))), filled).reshape([E, C, d]) as tf.Tensor3D;
    const hidden = tf.relu(tf.add(tf.matMul(xe, w1), b1.expandDims(1))) as tf.Tensor3D;
    const ye = tf.add(tf.matMul(hidden, w2), b2.expandDims(1)).reshape([E * C, d]);
    const picked = tf.gather(ye, tf.minimum(slot, tf.scalar(E * C - 1, 'int32'))).reshape([T, k, d]);
    return tf.sum(tf.mul(picked, gates.expandDims(2)), 1) as tf.Tensor2D;
  });
  position.dispose();
  return { y, probs, expertIndex, keep };
}
