/**
 * MC-SMoE (Li et al., ICLR 2024, "Merge, Then Compress: Demystify Efficient SMoE with Hints from Its
 * Routing Policy"; reference code UNITES-Lab/MC-SMoE). M-SMoE merges experts in three steps:
 *   1. dominant experts: the `groups` most used experts on calibration tokens;
 *   2. every other expert joins the dominant expert whose router logits over the calibration tokens are
 *      most similar (cosine of the logit columns — the paper's "router-logits" similarity);
 *   3. each group is merged into one expert: members' hidden neurons are permutation-aligned to the
 *      dominant expert (weight matching: a linear assignment maximising Σ ⟨[W₁ᵢ; b₁ᵢ; W₂ᵢ], [W₁ⱼ; b₁ⱼ; W₂ⱼ]⟩,
 *      Ainsworth et al. 2023 "Git Re-Basin"), then averaged weighted by their activation frequencies.
 * The router is kept: every slot of a group is served by the one merged expert.
 * MC-SMoE then compresses each merged expert: W ≈ L + S with L the rank-r truncation (the merged weights
 * are low-dimensional, the paper's observation) and S the largest-magnitude entries of the residual.
 * Deviation: the paper prunes S structurally and learns the low-rank part with a few fine-tuning steps;
 * here both come from one SVD of the merged weights and the residual's top entries, with no training.
 */
import { linearAssignment } from './hungarian.js';
import { cosine, column, mat, normalizeWeights, type DenseMatrix, type ExpertFfn } from './matrix.js';
import { lowRank, svd } from './svd.js';

/** The hidden-neuron feature vectors [W₁[:, j]; b₁[j]; W₂[j, :]] of an expert, one per hidden unit. */
function hiddenFeatures(e: ExpertFfn): Float64Array[] {
  const h = e.up.outDim;
  const d = e.up.inDim;
  const out = e.down.outDim;
  return Array.from({ length: h }, (_, j) => {
    const f = new Float64Array(d + 1 + out);
    for (let i = 0; i < d; i++) f[i] = e.up.kernel[i * h + j]!;
    f[d] = e.up.bias ? e.up.bias[j]! : 0;
    for (let o = 0; o < out; o++) f[d + 1 + o] = e.down.kernel[j * out + o]!;
    return f;
  });
}

/** Expert with hidden unit i taken from unit perm[i] of `e` (the function it computes is unchanged). */
export function permuteHidden<E extends ExpertFfn>(e: E, perm: readonly number[]): E {
  const h = e.up.outDim;
  const d = e.up.inDim;
  const out = e.down.outDim;
  if (perm.length !== h) throw new Error(`permutation of ${perm.length} units for an expert of ${h} hidden units`);
  const upK = new Float32Array(d * h);
  const downK = new Float32Array(h * out);
  const upB = e.up.bias ? new Float32Array(h) : null;
  perm.forEach((src, i) => {
    for (let r = 0; r < d; r++) upK[r * h + i] = e.up.kernel[r * h + src]!;
    if (upB) upB[i] = e.up.bias![src]!;
    for (let o = 0; o < out; o++) downK[i * out + o] = e.down.kernel[src * out + o]!;
  });
  return {
    ...e,
    up: { kernel: upK, bias: upB, inDim: d, outDim: h },
    down: { kernel: downK, bias: e.down.bias ? e.down.bias.slice() : null, inDim: h, outDim: out },
  };
}

/** The permutation of `e`'s hidden units that best matches `ref`'s (weight matching). */
export function alignmentPermutation(ref: ExpertFfn, e: ExpertFfn): number[] {
  if (ref.up.outDim !== e.up.outDim || ref.up.inDim !== e.up.inDim) throw new Error('alignment needs experts of one shape');
  const a = hiddenFeatures(ref);
  const b = hiddenFeatures(e);
  // cost[i][j] = −⟨ref unit i, e unit j⟩: assigning e's unit j to position i.
  const cost = a.map((fi) => b.map((fj) => -fi.reduce((s, v, k) => s + v * fj[k]!, 0)));
  return linearAssignment(cost);
}

export function alignTo<E extends ExpertFfn>(ref: ExpertFfn, e: E): E {
  return permuteHidden(e, alignmentPermutation(ref, e));
}

/**
 * Groups of expert slots (each group's first entry is its dominant expert). `logits` is [n, S] over the
 * calibration tokens, `usage[s]` how often slot s was chosen; `candidates` are the slots that hold FFN
 * experts (others are left out of merging).
 */
export function groupByRouterLogits(logits: ArrayLike<number>, n: number, S: number, usage: ArrayLike<number>, candidates: readonly number[], groups: number): number[][] {
  if (!(groups >= 1 && groups <= candidates.length)) throw new Error(`groups must be in [1, ${candidates.length}], got ${groups}`);
  const byUse = [...candidates].sort((a, b) => usage[b]! - usage[a]! || a - b);
  const dominant = byUse.slice(0, groups);
  const col = (s: number) => column(logits, n, S, s);
  const domCols = dominant.map(col);
  const out = dominant.map((d) => [d]);
  for (const s of byUse.slice(groups)) {
    const c = col(s);
    let best = 0;
    let bestSim = -Infinity;
    domCols.forEach((dc, g) => {
      const sim = cosine(c, dc);
      if (sim > bestSim) {
        bestSim = sim;
        best = g;
      }
    });
    out[best]!.push(s);
  }
  return out.map((g) => [g[0]!, ...g.slice(1).sort((a, b) => a - b)]);
}

function weightedDense(ws: readonly DenseMatrix[], f: readonly number[]): DenseMatrix {
  const w0 = ws[0]!;
  const kernel = new Float32Array(w0.kernel.length);
  const bias = w0.bias ? new Float32Array(w0.bias.length) : null;
  const acc = new Float64Array(w0.kernel.length);
  const accB = new Float64Array(w0.bias?.length ?? 0);
  ws.forEach((w, m) => {
    for (let i = 0; i < acc.length; i++) acc[i]! += f[m]! * w.kernel[i]!;
    if (bias) for (let i = 0; i < accB.length; i++) accB[i]! += f[m]! * w.bias![i]!;
  });
  kernel.set(acc);
  if (bias) bias.set(accB);
  return { kernel, bias, inDim: w0.inDim, outDim: w0.outDim };
}

/** Usage-weighted average of experts (no alignment) — also Sub-MoE's and SlimMoE's building block. */
export function averageExperts<E extends ExpertFfn>(experts: readonly E[], weights: readonly number[]): E {
  const f = normalizeWeights(weights);
  return { ...experts[0]!, up: weightedDense(experts.map((e) => e.up), f), down: weightedDense(experts.map((e) => e.down), f) };
}

/** M-SMoE's merge of one group: members aligned to experts[0] (the dominant), averaged by usage. */
export function mergeGroup<E extends ExpertFfn>(experts: readonly E[], usage: readonly number[]): E {
  const ref = experts[0]!;
  return averageExperts([ref, ...experts.slice(1).map((e) => alignTo(ref, e))], usage);
}

export interface LowRankSparse {
  /** L + S, the weights the compressed layer computes with. */
  kernel: Float32Array;
  rank: number;
  /** Entries kept in the sparse residual S. */
  nnz: number;
  /** Parameters stored: r·(in + out) + r for L, 2·nnz (value + index) for S. */
  storedParams: number;
}

/** W ≈ L + S: rank-`rank` SVD truncation plus the `sparseFraction` largest |residual| entries. */
export function lowRankPlusSparse(kernel: ArrayLike<number>, inDim: number, outDim: number, rank: number, sparseFraction: number): LowRankSparse {
  if (!(sparseFraction >= 0 && sparseFraction <= 1)) throw new Error(`sparseFraction must be in [0, 1], got ${sparseFraction}`);
  const a = mat(inDim, outDim, kernel);
  const r = Math.max(0, Math.min(rank, inDim, outDim));
  const L = lowRank(svd(a), r);
  const resid = a.data.map((v, i) => v - L.data[i]!);
  const nnz = Math.round(sparseFraction * resid.length);
  const order = Array.from(resid.keys()).sort((x, y) => Math.abs(resid[y]!) - Math.abs(resid[x]!) || x - y);
  const out = Float32Array.from(L.data);
  for (let k = 0; k < nnz; k++) out[order[k]!] = kernel[order[k]!]!;
  return { kernel: out, rank: r, nnz, storedParams: r * (inDim + outDim) + r + 2 * nnz };
}
