/**
 * Routing decisions as 0/1 masks over [tokens × routable slots]: as tensor ops (what MoELayer runs, on
 * any backend) and on plain arrays (an independent reference, used by runSubnetLayers and tests).
 *
 * Choosing experts (top-k, top-p, expert choice) has no useful gradient, and tfjs' TopK has none at
 * all, so the choice is made off the gradient tape on the router probabilities; the MoE layer then
 * takes gate values as `probs × mask`, which keeps the router trainable through the softmax.
 */
import * as tf from '@tensorflow/tfjs';

/** Row-major [tokens, slots] 0/1 mask. */
export interface RouteMask {
  tokens: number;
  slots: number;
  data: Uint8Array;
}

export function emptyMask(tokens: number, slots: number): RouteMask {
  return { tokens, slots, data: new Uint8Array(tokens * slots) };
}

/** Slot indices of one row sorted by probability, highest first (ties: lower index first). */
function rankRow(probs: ArrayLike<number>, row: number, slots: number): number[] {
  const idx = Array.from({ length: slots }, (_, i) => i);
  const off = row * slots;
  return idx.sort((a, b) => probs[off + b]! - probs[off + a]! || a - b);
}

/** Each token takes its k most probable slots (Shazeer et al., 2017; Fedus et al., 2021). */
export function topKMask(probs: ArrayLike<number>, tokens: number, slots: number, k: number): RouteMask {
  const m = emptyMask(tokens, slots);
  const kk = Math.min(k, slots);
  for (let t = 0; t < tokens; t++) {
    const order = rankRow(probs, t, slots);
    for (let j = 0; j < kk; j++) m.data[t * slots + order[j]!] = 1;
  }
  return m;
}

/**
 * Each token takes the smallest set of slots whose cumulative probability reaches p, at most maxK
 * (dynamic routing, Huang et al., 2024, "Harder tasks need more experts"). Confident tokens use one
 * expert; uncertain ones use several.
 */
export function topPMask(probs: ArrayLike<number>, tokens: number, slots: number, p: number, maxK = slots): RouteMask {
  const m = emptyMask(tokens, slots);
  const cap = Math.max(1, Math.min(maxK, slots));
  for (let t = 0; t < tokens; t++) {
    const order = rankRow(probs, t, slots);
    let cum = 0;
    for (let j = 0; j < cap; j++) {
      const s = order[j]!;
      m.data[t * slots + s] = 1;
      cum += probs[t * slots + s]!;
      // Slot j is kept while the mass ranked above it is < p (the rule core/export's graph uses too).
      if (cum >= p) break;
    }
  }
  return m;
}

/**
 * Each slot takes its `capacity` most probable tokens (expert choice, Zhou et al., 2022): loads are
 * equal by construction, and a token may get several experts or none.
 */
export function expertChoiceMask(probs: ArrayLike<number>, tokens: number, slots: number, capacity: number): RouteMask {
  const m = emptyMask(tokens, slots);
  const c = Math.max(0, Math.min(capacity, tokens));
  for (let s = 0; s < slots; s++) {
    const order = Array.from({ length: tokens }, (_, t) => t).sort((a, b) => probs[b * slots + s]! - probs[a * slots + s]! || a - b);
    for (let j = 0; j < c; j++) m.data[order[j]! * slots + s] = 1;
  }
  return m;
}

/**
 * Enforce a per-slot capacity in token order, as Switch / GShard do: assignments past a slot's
 * capacity are dropped (the token skips that expert; with a residual it passes through unchanged).
 * `capacity[s]` may be Infinity for slots that cost nothing.
 */
export function applyCapacity(mask: RouteMask, capacity: readonly number[]): { mask: RouteMask; dropped: number } {
  const out = emptyMask(mask.tokens, mask.slots);
  const used = new Array<number>(mask.slots).fill(0);
  let dropped = 0;
  for (let t = 0; t < mask.tokens; t++) {
    for (let s = 0; s < mask.slots; s++) {
      const i = t * mask.slots + s;
      if (!mask.data[i]) continue;
      if (used[s]! < capacity[s]!) {
        used[s]!++;
        out.data[i] = 1;
      } else dropped++;
    }
  }
  return { mask: out, dropped };
}

export function maskCount(mask: RouteMask): number {
  let n = 0;
  for (const v of mask.data) n += v;
  return n;
}

/** Tokens (row indices) that use slot s. */
export function tokensOf(mask: RouteMask, s: number): number[] {
  const out: number[] = [];
  for (let t = 0; t < mask.tokens; t++) if (mask.data[t * mask.slots + s]) out.push(t);
  return out;
}

// ---------------------------------------------------------------------------------------------------
// The same decisions as tensor ops, so routing runs where the data is (the WebGPU backend cannot read
// tensors back synchronously under Node). They run inside `withoutGradient`: TopK has no gradient in
// tfjs, and the choice should not be differentiated anyway.


/**
 * Evaluate `f` off the gradient tape, linked to `input` with a zero gradient (tfjs has no stopGradient;
 * ops inside a customGrad forward pass are not recorded).
 */
export function withoutGradient<T extends tf.Tensor>(input: tf.Tensor, f: () => T): T {
  return tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => ({
    value: f(),
    gradFunc: () => tf.zerosLike(args[0] as tf.Tensor),
  }))(input) as T;
}

/**
 * Σ_j oneHot(indices[:, j]) (× weight[:, j]) with 2-D ops only, as float32 0/1 values. Two backend bugs
 * shape it (tfjs 4.22): wasm's OneHot ignores a float32 dtype and writes int32 bits into a float32
 * tensor (1 reads as 1.4e-45), so the one-hot is made as int32 and cast; and WebGPU fails to compile the
 * rank-3 int32 transpose that summing a rank-3 one-hot over its middle axis needs (which also voids the
 * rest of that command buffer), so columns are summed one 2-D slice at a time.
 */
export function sumOneHots(indices: tf.Tensor2D, depth: number, weight?: tf.Tensor2D): tf.Tensor2D {
  const [rows, cols] = indices.shape;
  let out: tf.Tensor2D = tf.zeros([rows, depth]);
  for (let j = 0; j < cols; j++) {
    const column = tf.reshape(tf.slice(indices, [0, j], [rows, 1]), [rows]) as tf.Tensor1D;
    let hot = tf.cast(tf.oneHot(column, depth), 'float32') as tf.Tensor2D;
    if (weight) hot = tf.mul(hot, tf.slice(weight, [0, j], [rows, 1]));
    out = tf.add(out, hot);
  }
  return out;
}

/** [T, S] 0/1: the k most probable slots per row (ties: lower index first). */
export function topKMaskTensor(probs: tf.Tensor2D, k: number): tf.Tensor2D {
  const S = probs.shape[1];
  return sumOneHots(tf.topk(probs, Math.min(k, S)).indices as tf.Tensor2D, S);
}

/** [T, S] 0/1: slots ranked by probability while the mass ranked above is < p, at most maxK. */
export function topPMaskTensor(probs: tf.Tensor2D, p: number, maxK: number): tf.Tensor2D {
  const S = probs.shape[1];
  const kMax = Math.max(1, Math.min(maxK, S));
  const { values, indices } = tf.topk(probs, kMax);
  const before = tf.sub(tf.cumsum(values, 1), values);
  const keep = tf.cast(tf.less(before, p), 'float32') as tf.Tensor2D;
  return sumOneHots(indices as tf.Tensor2D, S, keep);
}

/** [T, S] 0/1: each slot (column) takes its `capacity` most probable tokens. */
export function expertChoiceMaskTensor(probs: tf.Tensor2D, capacity: number): tf.Tensor2D {
  const T = probs.shape[0];
  const c = Math.max(0, Math.min(capacity, T));
  if (c === 0) return tf.zerosLike(probs);
  const idx = tf.topk(tf.transpose(probs), c).indices as tf.Tensor2D; // [S, c]
  return tf.transpose(sumOneHots(idx, T)) as tf.Tensor2D;
}

/**
 * Keep at most `capacity[s]` assignments per column in token order (Switch / GShard): an assignment is
 * kept when fewer than capacity earlier tokens took that slot.
 */
export function capacityMaskTensor(mask: tf.Tensor2D, capacity: tf.Tensor): tf.Tensor2D {
  const position = tf.cumsum(mask, 0, true);
  return tf.mul(mask, tf.cast(tf.less(position, capacity), 'float32')) as tf.Tensor2D;
}
