/**
 * Routing decisions as 0/1 masks over [tokens × routable slots]: as tensor ops (what MoELayer runs, on
 * any backend) and on plain arrays (an independent reference, used by the selection tests).
 *
 * Choosing experts (top-k, top-p, expert choice) has no useful gradient, and tfjs' TopK has none at
 * all, so the choice is made off the gradient tape on the router probabilities; the MoE layer then
 * takes gate values as `probs × mask`, which keeps the router trainable through the softmax.
 */
import * as tf from '@tensorflow/tfjs';
import type { GateCombination, MoEBlock } from '../../space/SearchSpace.js';
import { describeRouting } from '../../space/routing/registry.js';

/** The gate combination a block uses: its routing's `gate` when set, else its mode's paper default (core/space/routing/<mode>.ts). */
export function gateCombination(block: Pick<MoEBlock, 'routing' | 'segments'>): GateCombination {
  return describeRouting(block.routing).defaultGate(block.routing, block.segments);
}

/**
 * Gates renormalised over the selected slots (`selected`: [T, S] 0/1): p_i / Σ_selected p_j, computed as
 * a softmax of the logits restricted to the selection — exact where the probabilities underflow, and with
 * no division by a vanishing sum (whose gradient overflows) — and 0 off the selection and on rows that
 * select nothing. Every path uses it (MoELayer, the export graph; ONNX and the tfjs
 * LayersModel build the same masked softmax).
 */
export function renormalizedGates(logits: tf.Tensor2D, selected: tf.Tensor2D): tf.Tensor2D {
  const masked = tf.add(logits, tf.mul(tf.sub(selected, 1), MASKED_LOGIT));
  return tf.mul(tf.softmax(masked), selected) as tf.Tensor2D;
}

/** What renormalizedGates adds to the logits of unselected slots. */
export const MASKED_LOGIT = 1e9;

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
 *
 * The rule every path applies (training, the export graph, ONNX): in ranked order, a
 * slot is kept while the probability mass ranked above it — a float32 running sum, added in rank order,
 * as an exclusive cumsum computes it — is < float32(p). So [0.7, 0.2, 0.1] at p = 0.9 keeps 2 slots
 * everywhere (fl32(0.7) + fl32(0.2) rounds to fl32(0.9)), where float64 arithmetic would keep 3.
 */
export function topPMask(probs: ArrayLike<number>, tokens: number, slots: number, p: number, maxK = slots): RouteMask {
  const m = emptyMask(tokens, slots);
  const cap = Math.max(1, Math.min(maxK, slots));
  const p32 = Math.fround(p);
  for (let t = 0; t < tokens; t++) {
    const order = rankRow(probs, t, slots);
    let above = 0;
    for (let j = 0; j < cap && above < p32; j++) {
      const s = order[j]!;
      m.data[t * slots + s] = 1;
      above = Math.fround(above + Math.fround(probs[t * slots + s]!));
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
  // Exclusive float32 cumsum in rank order (not cumsum − values, which rounds differently): the rule of topPMask.
  const before = tf.cumsum(values, 1, true);
  const keep = tf.cast(tf.less(before, Math.fround(p)), 'float32') as tf.Tensor2D;
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
 * Keep at most `capacity[s]` assignments per column. An assignment is kept when fewer than capacity
 * assignments to that slot come before it in priority order:
 * - 'token': token order, each token's choices together;
 * - 'rank' (GShard, Lepikhin et al., 2021; Switch): every token's first choice in token order, then every
 *   second choice, …; a choice's rank is its position in the token's probability order (ties: lower slot
 *   first, as tf.topk), so `probs` is needed. Top-k and top-p choices are a prefix of that order.
 */
export function capacityMaskTensor(
  mask: tf.Tensor2D,
  capacity: tf.Tensor,
  priority: 'rank' | 'token' = 'token',
  probs?: tf.Tensor2D,
  /** Most slots a token chooses (k; maxK for top-p); bounds the loop over ranks. */
  maxChoices?: number,
): tf.Tensor2D {
  if (priority === 'token') {
    const position = tf.cumsum(mask, 0, true);
    return tf.mul(mask, tf.cast(tf.less(position, capacity), 'float32')) as tf.Tensor2D;
  }
  if (!probs) throw new Error('capacityMaskTensor: rank priority needs the router probabilities');
  const [T, S] = mask.shape;
  const order = tf.topk(probs, S).indices as tf.Tensor2D; // [T, S] slots by rank
  const rankOf = sumOneHots(order, S, tf.tile(tf.range(0, S, 1, 'float32').expandDims(0), [T, 1]) as tf.Tensor2D); // [T, S]
  const maxRank = Math.min(S, maxChoices ?? S);
  let position: tf.Tensor2D = tf.zeros([T, S]);
  let filled: tf.Tensor = tf.zeros([1, S]); // assignments of earlier ranks, per slot
  for (let r = 0; r < maxRank; r++) {
    const atRank = tf.mul(mask, tf.cast(tf.equal(rankOf, r), 'float32')) as tf.Tensor2D;
    position = tf.add(position, tf.mul(atRank, tf.add(filled, tf.cumsum(atRank, 0, true)))) as tf.Tensor2D;
    filled = tf.add(filled, tf.sum(atRank, 0, true));
  }
  return tf.mul(mask, tf.cast(tf.less(position, capacity), 'float32')) as tf.Tensor2D;
}
