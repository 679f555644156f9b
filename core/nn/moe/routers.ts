/**
 * Routing decisions as 0/1 masks over [tokens × routable slots], computed on plain arrays.
 *
 * Choosing experts (top-k, top-p, expert choice) has no useful gradient, and tfjs' TopK has none at
 * all, so the choice is made here on detached router probabilities; the MoE layer then takes gate
 * values as `probs × mask`, which keeps the router trainable through the softmax.
 */

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
