/**
 * Sub-MoE (Li et al., 2025, "Sub-MoE: Efficient Mixture-of-Expert LLMs Compression via Subspace Expert
 * Merging"; code announced at lliai/MoERazor):
 *  1. adaptive expert clustering: K-means over the experts' outputs on calibration tokens with cosine
 *     similarity (spherical K-means), seeded with the most used experts;
 *  2. subspace expert merging: per group, the experts' weights W_i ([out, in], the paper's layout) are
 *     concatenated, [W_1 … W_k] = U Σ [V_1ᵀ … V_kᵀ] (one joint SVD, "experts union decomposition"), so
 *     U is shared; the expert-specific V_i are merged by usage frequency, V = Σ f_i V_i, and the merged
 *     expert is U_r Σ_r V_rᵀ at rank r (stored as two factors: r·(in + out) + r numbers).
 * At full rank the merge is exactly the usage-weighted average (the map is linear); truncating to the
 * shared top-r subspace is what drops the experts' conflicting directions. Biases are averaged by usage.
 */
import { cosine, mat, normalizeWeights, type DenseMatrix, type ExpertFfn } from './matrix.js';
import { svd } from './svd.js';

/** Spherical K-means of expert output vectors into k groups; each group lists its slots, most used first. */
export function clusterByOutputs(outputs: readonly Float64Array[], slots: readonly number[], usage: ArrayLike<number>, k: number, iterations = 20): number[][] {
  if (!(k >= 1 && k <= slots.length)) throw new Error(`groups must be in [1, ${slots.length}], got ${k}`);
  const idx = slots.map((_, i) => i);
  const byUse = [...idx].sort((a, b) => usage[slots[b]!]! - usage[slots[a]!]! || a - b);
  let centroids = byUse.slice(0, k).map((i) => outputs[i]!.slice());
  let assign = idx.map(() => -1);
  for (let it = 0; it < iterations; it++) {
    const next = idx.map((i) => {
      let best = 0;
      let bestSim = -Infinity;
      centroids.forEach((c, g) => {
        const s = cosine(outputs[i]!, c);
        if (s > bestSim) {
          bestSim = s;
          best = g;
        }
      });
      return best;
    });
    // Seeds stay in their own group so no group empties.
    byUse.slice(0, k).forEach((i, g) => (next[i] = g));
    if (next.every((g, i) => g === assign[i])) break;
    assign = next;
    centroids = centroids.map((c, g) => {
      const members = idx.filter((i) => assign[i] === g);
      const m = new Float64Array(c.length);
      for (const i of members) {
        const o = outputs[i]!;
        const n = Math.hypot(...o) || 1;
        for (let j = 0; j < m.length; j++) m[j]! += o[j]! / n;
      }
      return m;
    });
  }
  return Array.from({ length: k }, (_, g) => idx.filter((i) => assign[i] === g).sort((a, b) => usage[slots[b]!]! - usage[slots[a]!]! || a - b).map((i) => slots[i]!));
}

export interface SubspaceMerge {
  dense: DenseMatrix;
  rank: number;
  storedParams: number;
  /** Singular values of the joint decomposition (the spectrum view's data). */
  spectrum: Float64Array;
}

/** Joint-SVD merge of same-shaped dense layers (kernels [in, out]) weighted by `weights`, at rank `rank`. */
export function jointSvdMerge(layers: readonly DenseMatrix[], weights: readonly number[], rank: number): SubspaceMerge {
  const { inDim, outDim } = layers[0]!;
  for (const l of layers) if (l.inDim !== inDim || l.outDim !== outDim) throw new Error('jointSvdMerge needs layers of one shape');
  const f = normalizeWeights(weights);
  const k = layers.length;
  // W_cat [out, k·in] with W_i = kernel_iᵀ.
  const cat = mat(outDim, k * inDim);
  layers.forEach((l, m) => {
    for (let i = 0; i < inDim; i++) for (let o = 0; o < outDim; o++) cat.data[o * k * inDim + m * inDim + i] = l.kernel[i * outDim + o]!;
  });
  const { U, S, V } = svd(cat);
  const kk = S.length;
  const r = Math.max(1, Math.min(rank, kk));
  // Merged V [in, r]: Σ f_m V_m (rows m·in … (m+1)·in of V).
  const Vm = new Float64Array(inDim * r);
  for (let m = 0; m < k; m++) for (let i = 0; i < inDim; i++) for (let c = 0; c < r; c++) Vm[i * r + c]! += f[m]! * V.data[(m * inDim + i) * kk + c]!;
  // kernel [in, out] = (U_r Σ_r V_mᵀ)ᵀ = V_m Σ_r U_rᵀ.
  const kernel = new Float32Array(inDim * outDim);
  for (let i = 0; i < inDim; i++) {
    for (let o = 0; o < outDim; o++) {
      let s = 0;
      for (let c = 0; c < r; c++) s += Vm[i * r + c]! * S[c]! * U.data[o * kk + c]!;
      kernel[i * outDim + o] = s;
    }
  }
  let bias: Float32Array | null = null;
  if (layers[0]!.bias) {
    bias = new Float32Array(outDim);
    const acc = new Float64Array(outDim);
    layers.forEach((l, m) => l.bias!.forEach((b, o) => (acc[o]! += f[m]! * b)));
    bias.set(acc);
  }
  return { dense: { kernel, bias, inDim, outDim }, rank: r, storedParams: r * (inDim + outDim) + r + (bias?.length ?? 0), spectrum: S };
}

/** Sub-MoE's merged expert of one group: both projections merged in their own joint subspace. */
export function subspaceMergeExperts<E extends ExpertFfn>(experts: readonly E[], usage: readonly number[], rank: number): { expert: E; storedParams: number; spectrum: Float64Array } {
  const up = jointSvdMerge(experts.map((e) => e.up), usage, rank);
  const down = jointSvdMerge(experts.map((e) => e.down), usage, rank);
  return { expert: { ...experts[0]!, up: up.dense, down: down.dense }, storedParams: up.storedParams + down.storedParams, spectrum: down.spectrum };
}
