/**
 * The exact rank construction the tfjs selection writers share (../tfjsExport.ts module comment): pairwise
 * comparisons c_(i,j) = [s_j > s_i] for i < j by K-scaled fixed maps clipped to [0, 1], and
 * rank_i = Σ_{j>i} c_(i,j) + Σ_{j<i} (1 − c_(j,i)) — ties to the lower slot, as tf.topk.
 */
import { K_CMP, type Builder, type SymbolicTensor } from '../tfjsBuilder.js';

export interface PairwiseRanks {
  pairs: [number, number][];
  /** [T, pairs] indicators c_(i,j). */
  cmp: SymbolicTensor;
  /** [T, S] 0/1: rank_i < limit. */
  rankMask(limit: number, name: string): SymbolicTensor;
}

/** Ranks of the probabilities; `bias` (auxiliary-loss-free balancing) ranks p + b instead. */
export function pairwiseRanks(b: Builder, probs: SymbolicTensor, s: number, bias: readonly number[] | undefined, n: string): PairwiseRanks {
  const pairs: [number, number][] = [];
  for (let i = 0; i < s; i++) for (let j = i + 1; j < s; j++) pairs.push([i, j]);
  const cmpK = new Float32Array(s * pairs.length);
  pairs.forEach(([i, j], c) => {
    cmpK[j * pairs.length + c] = K_CMP;
    cmpK[i * pairs.length + c] = -K_CMP;
  });
  // A biased ranking compares p + b: the bias enters as the map's offsets.
  const cmpB = bias ? Float32Array.from(pairs, ([i, j]) => K_CMP * (bias[j]! - bias[i]!)) : null;
  const cmp = b.clip01(b.fixed(probs, cmpK, s, pairs.length, cmpB, `${n}_cmp_diff`), `${n}_cmp`);
  const rankK = new Float32Array(pairs.length * s);
  const rankB = new Float32Array(s);
  pairs.forEach(([i, j], c) => {
    rankK[c * s + i] += 1;
    rankK[c * s + j] -= 1;
    rankB[j] += 1;
  });
  const rank = b.fixed(cmp, rankK, pairs.length, s, rankB, `${n}_rank`);
  const rankMask = (limit: number, name: string) => {
    const eye = new Float32Array(s * s);
    for (let i = 0; i < s; i++) eye[i * s + i] = -1;
    return b.clip01(b.fixed(rank, eye, s, s, new Float32Array(s).fill(limit), `${name}_lin`), name);
  };
  return { pairs, cmp, rankMask };
}
