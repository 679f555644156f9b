/**
 * Routing metrics beyond entropy, as MoE training users log them (issue 13), and the collapse alarm built
 * on them. All are computed from one point's per-slot load (fraction of routing assignments before capacity
 * drops, MoELayer's report) over the ROUTED slots only: an always-on (DeepSeekMoE shared) expert sees every
 * token by design and is left out — counting it made the old alarm fire on every block with a shared expert.
 *
 * - coefficient of variation of the load, std / mean over the N routed slots (population std; Shazeer et al.,
 *   2017 balance the CV² of expert importance): 0 when balanced, √(N − 1) when one expert takes everything;
 * - dead-expert fraction: routed slots that got no assignment in the batch;
 * - expert diversity exp(H(load)) / N: the effective number of experts (the perplexity of the load
 *   distribution) as a share of N, 1 when balanced, 1/N when one expert takes everything;
 * - drop rate: the share of assignments the capacity limit dropped (the layer reports it as `dropped`).
 *
 * Note the distinction the old alarm missed: the router's per-token entropy (reported beside these) is high
 * when the router is undecided, which says nothing about whether the LOAD is balanced; the alarm reads the
 * load, never the per-token entropy.
 */

/** Diversity below this (fewer than half the experts effectively used) is collapse. */
export const COLLAPSE_MIN_DIVERSITY = 0.5;
/** At least this share of the routed experts getting no token is collapse. */
export const COLLAPSE_DEAD_FRACTION = 0.5;
/** At least this share of the assignments dropped by capacity is collapse (the experts a token wanted are full). */
export const COLLAPSE_DROP_RATE = 0.5;
/**
 * One routed slot taking more than this share of the assignments (with balanced routing over N slots each
 * takes 1/N) is collapse.
 */
export const EXPERT_COLLAPSE_THRESHOLD = 0.6;
/**
 * With k > 1 experts per token one slot can hold at most 1/k of the assignments, so the share above never
 * fires; there a layer is also collapsed when nearly every token (this share) passes through the same slot
 * while balanced routing would send it only half of them or less.
 */
export const EXPERT_COLLAPSE_TOKEN_SHARE = 0.9;

export interface RoutingMetrics {
  cv: number;
  deadFraction: number;
  diversity: number;
  dropRate: number;
  collapse: boolean;
  /** Why the alarm fired (empty when it did not), e.g. "5 of 8 experts dead". */
  collapseReason: string;
}

export interface LoadPoint {
  /** Per-slot share of routing assignments (all slots, shared ones included, as the layer reports it). */
  load: readonly number[];
  /** Slot indices of always-on experts (DeepSeekMoE shared experts), left out of every metric. */
  alwaysOn?: readonly number[];
  /** Share of assignments dropped by the capacity limit. */
  dropped: number;
  /** Mean experts a token uses after drops, shared ones included (the layer's meanActive). */
  meanActive: number;
}

const pct = (v: number) => `${Math.round(v * 100)} %`;

/** The routing metrics of one point and the collapse alarm on them. */
export function routingMetrics(p: LoadPoint): RoutingMetrics {
  const skip = new Set(p.alwaysOn ?? []);
  const raw = p.load.filter((_, i) => !skip.has(i));
  const N = raw.length;
  const total = raw.reduce((a, b) => a + b, 0);
  if (N === 0 || total <= 0) return { cv: 0, deadFraction: N ? 1 : 0, diversity: 0, dropRate: p.dropped, collapse: N > 0, collapseReason: N > 0 ? 'no routed assignments' : '' };
  // Shares of the routed assignments (the shared experts' share renormalised away).
  const load = raw.map((v) => v / total);
  const mean = 1 / N;
  const cv = Math.sqrt(load.reduce((a, v) => a + (v - mean) ** 2, 0) / N) / mean;
  const dead = load.filter((v) => v <= 0).length;
  const H = -load.reduce((a, v) => a + (v > 0 ? v * Math.log(v) : 0), 0);
  const diversity = Math.exp(H) / N;
  const reasons: string[] = [];
  if (N > 1 && dead / N >= COLLAPSE_DEAD_FRACTION) reasons.push(`${dead} of ${N} experts dead`);
  if (N > 1 && diversity < COLLAPSE_MIN_DIVERSITY) reasons.push(`diversity ${diversity.toFixed(2)} (${(diversity * N).toFixed(1)} of ${N} experts in use)`);
  if (p.dropped >= COLLAPSE_DROP_RATE) reasons.push(`${pct(p.dropped)} dropped`);
  const max = Math.max(...load);
  // Routed assignments per token before drops: (kept routed per token) / (1 − dropped).
  const routedPerToken = Math.max(0, p.meanActive - skip.size) / Math.max(1e-9, 1 - p.dropped);
  const tokenShare = Math.min(1, max * routedPerToken);
  if (N > 1 && (max > EXPERT_COLLAPSE_THRESHOLD || (tokenShare >= EXPERT_COLLAPSE_TOKEN_SHARE && routedPerToken / N <= 0.5)))
    reasons.push(`one expert takes ${pct(max)} of assignments`);
  return { cv, deadFraction: dead / N, diversity, dropRate: p.dropped, collapse: reasons.length > 0, collapseReason: reasons.join('; ') };
}
