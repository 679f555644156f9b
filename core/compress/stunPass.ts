/**
 * STUN as a pass (method core: ./stun.ts): prune the op's FFN experts to round(keep·E) by router-weight
 * clusters (slots and router columns removed), then Wanda-prune `level.sparsity` of each kept expert's
 * weights with the activation norms of the calibration tokens routed to it (all tokens when none is).
 */
import type { DenseWeights, Ffn, MoEOp } from '../nn/graph/evaluate.js';
import { scalarActivation } from './activation.js';
import { expertSlots, keptCount, type CompressedDense, type CompressionMethod } from './CompressionMethod.js';
import { keepSlots } from './compressGraph.js';
import { cosine, column, denseForward } from './matrix.js';
import { clusterByRouterWeights, inputNorms, representatives, wandaPrune } from './stun.js';

function wandaDense(w: DenseWeights, x: ArrayLike<number>, n: number, sparsity: number): CompressedDense {
  if (sparsity <= 0) return w;
  const { kernel } = wandaPrune(w.kernel, w.inDim, w.outDim, inputNorms(x, n, w.inDim), sparsity);
  let nnz = 0;
  for (const v of kernel) if (v !== 0) nnz++;
  const bias = w.bias?.length ?? 0;
  // Sparse storage: value (32 bits) + row index (⌈log₂ inDim⌉ bits) per non-zero, column pointers, biases.
  const bits = nnz * (32 + Math.ceil(Math.log2(Math.max(2, w.inDim)))) + 32 * (w.outDim + 1) + 32 * bias;
  return { ...w, kernel, storage: { params: nnz + bias, bits } };
}

/** Rows of x [n, dim] whose token selected slot s (all rows when none did). */
function routedRows(x: Float32Array, n: number, dim: number, mask: Uint8Array, S: number, s: number): { x: Float32Array; n: number } {
  const rows: number[] = [];
  for (let t = 0; t < n; t++) if (mask[t * S + s]) rows.push(t);
  if (rows.length === 0) return { x, n };
  const out = new Float32Array(rows.length * dim);
  rows.forEach((t, i) => out.set(x.subarray(t * dim, (t + 1) * dim), i * dim));
  return { x: out, n: rows.length };
}

export function wandaExpert(f: Ffn, x: ArrayLike<number>, n: number, sparsity: number): Ffn {
  const hidden = denseForward(x, n, f.up, scalarActivation(f.activation));
  return { ...f, up: wandaDense(f.up, x, n, sparsity), down: wandaDense(f.down, hidden, n, sparsity) };
}

export const stun: CompressionMethod = {
  name: 'stun',
  summary: 'expert pruning by router-weight similarity, then Wanda |w|·‖x‖ unstructured pruning',
  reference: 'Lee et al. 2024, STUN: Structured-Then-Unstructured Pruning; Sun et al. 2024, Wanda',
  levels: [{ keep: 0.75 }, { keep: 0.75, sparsity: 0.3 }, { keep: 0.5, sparsity: 0.3 }, { keep: 0.5, sparsity: 0.5 }, { keep: 0.25, sparsity: 0.5 }],
  compressMoE(op, calib, level) {
    const slots = expertSlots(op);
    const S = op.slots.length;
    // At least two slots stay: a router over one slot is no routing (and the graph's selection ops need two).
    const clusters = clusterByRouterWeights(op.router, slots, Math.max(Math.min(2, slots.length), keptCount(slots.length, level.keep)));
    const keptExperts = new Set(representatives(clusters, calib.usage));
    const keep = op.slots.flatMap((s, i) => (s.kind !== 'expert' || keptExperts.has(i) ? [i] : []));
    const sparsity = level.sparsity ?? 0;
    const pruned = keepSlots(op, keep);
    pruned.slots = pruned.slots.map((sl, j) => {
      if (sl.kind !== 'expert') return sl;
      const r = routedRows(calib.x, calib.n, op.dim, calib.mask, S, keep[j]!);
      return { ...sl, ffn: wandaExpert(sl.ffn, r.x, r.n, sparsity) };
    });
    pruned.shared = pruned.shared.map((f) => wandaExpert(f, calib.x, calib.n, sparsity));
    const cols = slots.map((s) => column(op.router.kernel, op.router.inDim, S, s));
    return {
      op: pruned,
      report: { layer: op.name, expertsBefore: slots.length, expertsAfter: keptExperts.size, groups: clusters, similarity: cols.map((a) => cols.map((b) => cosine(a, b))) },
    };
  },
};
