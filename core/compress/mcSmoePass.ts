/**
 * MC-SMoE as a pass (method core: ./mcSmoe.ts): group the op's FFN experts by router-logit similarity
 * into round(keep·E) groups, merge each group (permutation-aligned, usage-weighted) into one expert that
 * all the group's router slots share, then — when `level.rank` < 1 — compress the merged kernels to
 * low rank + sparse.
 */
import type { DenseWeights, Ffn, MoEOp } from '../nn/graph/evaluate.js';
import { expertSlots, keptCount, keptRank, type CompressedDense, type CompressionMethod } from './CompressionMethod.js';
import { column, cosine } from './matrix.js';
import { groupByRouterLogits, lowRankPlusSparse, mergeGroup } from './mcSmoe.js';

/** Cosine similarity of every pair of slots' router logits over the calibration tokens. */
export function logitSimilarity(logits: ArrayLike<number>, n: number, S: number): number[][] {
  const cols = Array.from({ length: S }, (_, s) => column(logits, n, S, s));
  return cols.map((a) => cols.map((b) => cosine(a, b)));
}

/** A dense layer as rank-r + sparse factors, or unchanged when that would not be smaller. */
export function lowRankSparseDense(w: DenseWeights, rankFraction: number, sparsity: number): CompressedDense {
  const r = keptRank(Math.min(w.inDim, w.outDim), rankFraction);
  const lr = lowRankPlusSparse(w.kernel, w.inDim, w.outDim, r, sparsity);
  const bias = w.bias?.length ?? 0;
  if (lr.storedParams >= w.kernel.length) return w;
  return { kernel: lr.kernel, bias: w.bias, inDim: w.inDim, outDim: w.outDim, storage: { params: lr.storedParams + bias, bits: 32 * (lr.storedParams + bias) } };
}

/** Every slot of each group served by `merged[g]` (one shared Ffn object). */
export function shareMerged(op: MoEOp, groups: readonly (readonly number[])[], merged: readonly Ffn[]): MoEOp {
  const slots = op.slots.slice();
  groups.forEach((g, gi) => g.forEach((s) => (slots[s] = { kind: 'expert', name: op.slots[s]!.name, ffn: merged[gi]! })));
  return { ...op, slots };
}

export const mcSmoe: CompressionMethod = {
  name: 'mc-smoe',
  summary: 'merge experts grouped by router-logit similarity (permutation-aligned, usage-weighted), then low-rank + sparse',
  reference: 'Li et al. 2024, Merge, Then Compress (MC-SMoE), UNITES-Lab/MC-SMoE',
  levels: [{ keep: 0.75 }, { keep: 0.5 }, { keep: 0.5, rank: 0.5, sparsity: 0.05 }, { keep: 0.25 }, { keep: 0.25, rank: 0.25, sparsity: 0.05 }],
  compressMoE(op, calib, level) {
    const slots = expertSlots(op);
    const S = op.slots.length;
    const groups = groupByRouterLogits(calib.logits, calib.n, S, calib.usage, slots, keptCount(slots.length, level.keep));
    const ffnOf = (s: number) => (op.slots[s] as { ffn: Ffn }).ffn;
    const merged = groups.map((g) => {
      const m = mergeGroup(g.map(ffnOf), g.map((s) => calib.usage[s]!));
      if (level.rank === undefined || level.rank >= 1) return m;
      return { ...m, up: lowRankSparseDense(m.up, level.rank, level.sparsity ?? 0), down: lowRankSparseDense(m.down, level.rank, level.sparsity ?? 0) };
    });
    return {
      op: shareMerged(op, groups, merged),
      report: { layer: op.name, expertsBefore: slots.length, expertsAfter: groups.length, groups, similarity: logitSimilarity(calib.logits, calib.n, S) },
    };
  },
};
