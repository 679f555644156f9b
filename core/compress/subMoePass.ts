/**
 * Sub-MoE as a pass (method core: ./subMoe.ts): cluster the op's FFN experts into round(keep·E) groups by
 * their outputs on calibration tokens, merge each group in its joint-SVD subspace at rank
 * `level.rank`·min(in, out), and let all of a group's router slots share the merged expert.
 */
import type { Ffn } from '../nn/graph/evaluate.js';
import { scalarActivation } from './activation.js';
import { expertSlots, keptCount, keptRank, type CompressionMethod } from './CompressionMethod.js';
import { cosine, denseForward } from './matrix.js';
import { shareMerged } from './mcSmoePass.js';
import { clusterByOutputs, jointSvdMerge } from './subMoe.js';

/** Calibration tokens used for expert outputs (a prefix of the calibration batch keeps clustering cheap). */
const OUTPUT_TOKENS = 256;

export const subMoe: CompressionMethod = {
  name: 'sub-moe',
  summary: 'cluster experts by output similarity, joint SVD per group (shared U), usage-merged V',
  reference: 'Li et al. 2025, Sub-MoE: Subspace Expert Merging (lliai/MoERazor)',
  levels: [{ keep: 0.75 }, { keep: 0.5 }, { keep: 0.5, rank: 0.5 }, { keep: 0.25 }, { keep: 0.25, rank: 0.5 }],
  compressMoE(op, calib, level) {
    const slots = expertSlots(op);
    const ffnOf = (s: number) => (op.slots[s] as { ffn: Ffn }).ffn;
    const n = Math.min(calib.n, OUTPUT_TOKENS);
    const x = calib.x.subarray(0, n * op.dim);
    const outputs = slots.map((s) => {
      const f = ffnOf(s);
      return denseForward(denseForward(x, n, f.up, scalarActivation(f.activation)), n, f.down);
    });
    const groups = clusterByOutputs(outputs, slots, calib.usage, keptCount(slots.length, level.keep));
    let spectrum: number[] = [];
    const merged = groups.map((g) => {
      const experts = g.map(ffnOf);
      const usage = g.map((s) => calib.usage[s]!);
      const part = (pick: (f: Ffn) => Ffn['up']) => {
        const ls = experts.map(pick);
        const m = jointSvdMerge(ls, usage, keptRank(Math.min(ls[0]!.inDim, ls[0]!.outDim), level.rank ?? 1));
        const bias = m.dense.bias?.length ?? 0;
        const dense = ls[0]!.kernel.length;
        if (spectrum.length === 0) spectrum = Array.from(m.spectrum);
        // Stored as factors only when that is smaller than the dense kernel.
        return m.storedParams - bias < dense ? { ...m.dense, storage: { params: m.storedParams, bits: 32 * m.storedParams } } : m.dense;
      };
      return { ...experts[0]!, up: part((f) => f.up), down: part((f) => f.down) };
    });
    return {
      op: shareMerged(op, groups, merged),
      report: { layer: op.name, expertsBefore: slots.length, expertsAfter: groups.length, groups, spectrum, similarity: outputs.map((a) => outputs.map((b) => cosine(a, b))) },
    };
  },
};
