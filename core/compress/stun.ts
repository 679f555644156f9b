/**
 * STUN (Lee et al., 2024, "STUN: Structured-Then-Unstructured Pruning for Scalable MoE Pruning"):
 * expert pruning first, then unstructured pruning of what is left.
 *  - Structured: experts whose router weight vectors are similar behave alike (the paper's O(1) proxy for
 *    behaviour similarity, in place of O(kⁿ) forward passes), so they are clustered agglomeratively by the
 *    cosine similarity of their router columns (average linkage) into `keep` clusters and each cluster
 *    keeps one expert. The pruned experts' router columns are removed, so tokens go to the survivors.
 *    Deviation: the representative kept is the cluster's most used expert on calibration data.
 *  - Unstructured: Wanda (Sun et al., ICLR 2024, "A Simple and Effective Pruning Approach for LLMs"):
 *    score |W_ij| · ‖X_j‖₂ with X the layer's calibration inputs, and within each output the lowest-scoring
 *    fraction of weights is zeroed (Wanda's per-output comparison group).
 */
import { cosine, column, type DenseMatrix } from './matrix.js';

/** Agglomerative clusters (average-linkage cosine similarity) of the router columns of `candidates`. */
export function clusterByRouterWeights(router: DenseMatrix, candidates: readonly number[], keep: number): number[][] {
  if (!(keep >= 1 && keep <= candidates.length)) throw new Error(`keep must be in [1, ${candidates.length}], got ${keep}`);
  const cols = new Map(candidates.map((s) => [s, column(router.kernel, router.inDim, router.outDim, s)]));
  const sim = (a: number, b: number) => cosine(cols.get(a)!, cols.get(b)!);
  let clusters = candidates.map((s) => [s]);
  while (clusters.length > keep) {
    let best = [0, 1];
    let bestSim = -Infinity;
    for (let i = 0; i < clusters.length; i++) {
      for (let j = i + 1; j < clusters.length; j++) {
        let s = 0;
        for (const a of clusters[i]!) for (const b of clusters[j]!) s += sim(a, b);
        s /= clusters[i]!.length * clusters[j]!.length;
        if (s > bestSim) {
          bestSim = s;
          best = [i, j];
        }
      }
    }
    const [i, j] = best as [number, number];
    const merged = [...clusters[i]!, ...clusters[j]!].sort((a, b) => a - b);
    clusters = clusters.filter((_, k) => k !== i && k !== j);
    clusters.push(merged);
    clusters.sort((a, b) => a[0]! - b[0]!);
  }
  return clusters;
}

/** The expert each cluster keeps: its most used member (ties to the lower slot). */
export function representatives(clusters: readonly (readonly number[])[], usage: ArrayLike<number>): number[] {
  return clusters.map((c) => [...c].sort((a, b) => usage[b]! - usage[a]! || a - b)[0]!).sort((a, b) => a - b);
}

/** ‖X[:, j]‖₂ of each input feature j over the n calibration rows of x [n, dim]. */
export function inputNorms(x: ArrayLike<number>, n: number, dim: number): Float64Array {
  const s = new Float64Array(dim);
  for (let r = 0; r < n; r++) for (let j = 0; j < dim; j++) s[j]! += x[r * dim + j]! ** 2;
  return s.map(Math.sqrt);
}

/**
 * Wanda: zero the ⌊sparsity·inDim⌋ lowest |W[j, o]|·‖X_j‖ weights of every output o (kernel [inDim,
 * outDim], so an output is a column). Returns the pruned kernel and the number of zeros written.
 */
export function wandaPrune(kernel: Float32Array, inDim: number, outDim: number, norms: ArrayLike<number>, sparsity: number): { kernel: Float32Array; pruned: number } {
  if (!(sparsity >= 0 && sparsity < 1)) throw new Error(`sparsity must be in [0, 1), got ${sparsity}`);
  if (norms.length !== inDim) throw new Error(`activation norms have ${norms.length} entries, expected ${inDim}`);
  const out = kernel.slice();
  const drop = Math.floor(sparsity * inDim);
  for (let o = 0; o < outDim; o++) {
    const order = Array.from({ length: inDim }, (_, j) => j).sort((a, b) => Math.abs(kernel[a * outDim + o]!) * norms[a]! - Math.abs(kernel[b * outDim + o]!) * norms[b]! || a - b);
    for (let k = 0; k < drop; k++) out[order[k]! * outDim + o] = 0;
  }
  return { kernel: out, pruned: drop * outDim };
}
