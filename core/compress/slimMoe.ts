/**
 * SlimMoE-style expert slimming (Li et al. 2025, "SlimMoE: Structured Compression of Large MoE Models via
 * Expert Slimming and Distillation"): every expert keeps the `width` fraction of its hidden neurons with
 * the highest importance, and the slim expert is distilled towards the uncompressed one.
 *  - Importance of hidden unit j: E_t |a_j(x_t)| · ‖W₂[j, :]‖ over the calibration tokens routed to the
 *    expert (the unit's contribution to the expert output). Deviation: SlimMoE scores neurons by
 *    first-order sensitivity (|θ·∂L/∂θ|, needing gradients); this is the activation-based, training-free
 *    proxy.
 *  - Distillation: SlimMoE distils from the full model in training stages; here, in one shot, the slim
 *    expert's down projection [W₂'; b₂'] is refit by ridge least squares so that its outputs match the
 *    full expert's (the teacher's) on those tokens: min ‖[A' 1]·[W₂'; b₂'] − Y‖² + λ‖W₂'‖².
 */
import { denseForward, mat, solveSpd, type ExpertFfn } from './matrix.js';

/** Importance of each hidden unit of `e` on inputs x [n, dim]. */
export function hiddenImportance(e: ExpertFfn, act: (v: number) => number, x: ArrayLike<number>, n: number): Float64Array {
  const h = e.up.outDim;
  const a = denseForward(x, n, e.up, act);
  const imp = new Float64Array(h);
  const d = e.down.outDim;
  for (let j = 0; j < h; j++) {
    let s = 0;
    for (let t = 0; t < n; t++) s += Math.abs(a[t * h + j]!);
    let w = 0;
    for (let o = 0; o < d; o++) w += e.down.kernel[j * d + o]! ** 2;
    imp[j] = (s / Math.max(1, n)) * Math.sqrt(w);
  }
  return imp;
}

/** Units kept: the `count` most important, in their original order. */
export function keptUnits(importance: ArrayLike<number>, count: number): number[] {
  const idx = Array.from({ length: importance.length }, (_, j) => j);
  return idx.sort((a, b) => importance[b]! - importance[a]! || a - b).slice(0, count).sort((a, b) => a - b);
}

/** The expert restricted to hidden units `units` (no refit). */
export function sliceHidden<E extends ExpertFfn>(e: E, units: readonly number[]): E {
  const h = e.up.outDim;
  const d = e.up.inDim;
  const out = e.down.outDim;
  const k = units.length;
  const upK = new Float32Array(d * k);
  const downK = new Float32Array(k * out);
  units.forEach((j, i) => {
    for (let r = 0; r < d; r++) upK[r * k + i] = e.up.kernel[r * h + j]!;
    for (let o = 0; o < out; o++) downK[i * out + o] = e.down.kernel[j * out + o]!;
  });
  return {
    ...e,
    up: { kernel: upK, bias: e.up.bias ? Float32Array.from(units, (j) => e.up.bias![j]!) : null, inDim: d, outDim: k },
    down: { kernel: downK, bias: e.down.bias ? e.down.bias.slice() : null, inDim: k, outDim: out },
  };
}

/** Refit the slim expert's down projection (and bias) to the teacher's outputs on x [n, dim]. */
export function distillDown<E extends ExpertFfn>(slim: E, teacher: ExpertFfn, act: (v: number) => number, x: ArrayLike<number>, n: number, ridge = 1e-3): E {
  const k = slim.up.outDim;
  const out = slim.down.outDim;
  const a = denseForward(x, n, slim.up, act);
  const y = denseForward(denseForward(x, n, teacher.up, act), n, teacher.down);
  // Normal equations of the augmented design [A 1]: (ZᵀZ + λ·diag(1…1, 0)) W = Zᵀ Y.
  const m = k + 1;
  const zz = mat(m, m);
  const zy = mat(m, out);
  for (let t = 0; t < n; t++) {
    for (let i = 0; i < m; i++) {
      const zi = i < k ? a[t * k + i]! : 1;
      if (zi === 0) continue;
      for (let j = 0; j < m; j++) zz.data[i * m + j]! += zi * (j < k ? a[t * k + j]! : 1);
      for (let o = 0; o < out; o++) zy.data[i * out + o]! += zi * y[t * out + o]!;
    }
  }
  const scale = Math.max(1e-12, ...Array.from({ length: m }, (_, i) => zz.data[i * m + i]!)) ;
  for (let i = 0; i < k; i++) zz.data[i * m + i]! += ridge * scale;
  // A unit that never fires has a zero row; the ridge keeps the system definite, a tiny jitter the bias row.
  zz.data[k * m + k]! += 1e-9 * scale;
  const w = solveSpd(zz, zy);
  const kernel = new Float32Array(k * out);
  for (let i = 0; i < k; i++) for (let o = 0; o < out; o++) kernel[i * out + o] = w.data[i * out + o]!;
  const bias = Float32Array.from({ length: out }, (_, o) => w.data[k * out + o]!);
  return { ...slim, down: { kernel, bias, inDim: k, outDim: out } };
}
