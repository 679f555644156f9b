/**
 * The grouped matmul's documented semantics (matmulKernel.ts header) as plain float64 loops, for the
 * kernel test and bench/matmulSweep.ts: independent of the WGSL, so a kernel is checked against it.
 */
import type { MatmulMode } from './matmulKernel.js';

export interface MatmulCase {
  mode: MatmulMode;
  batches: number;
  M: number;
  N: number;
  K: number;
  /** Per-batch kept count (output rows for nn/nt, reduction rows for tn), or none. */
  counts?: number[];
  /** B shared by every batch (bBatch 0). */
  broadcastB?: boolean;
  epilogue?: { bias?: boolean; relu?: boolean; mask?: boolean };
}

/**
 * out[e, m, n] for operands in the mode's layouts; NaN where the kernel leaves the value undefined
 * (nn/nt output rows at or past a routed count). bias is [batches, N], mask [batches, M, N].
 */
export function referenceMatmul(c: MatmulCase, a: Float32Array, b: Float32Array, bias?: Float32Array, mask?: Float32Array): Float64Array {
  const { mode, batches: E, M, N, K } = c;
  const out = new Float64Array(E * M * N);
  const row = new Float64Array(N);
  for (let e = 0; e < E; e++) {
    const cnt = c.counts?.[e];
    const ao = e * M * K;
    const bo = c.broadcastB ? 0 : e * K * N;
    const kMax = mode === 'tn' && cnt != null ? cnt : K;
    for (let m = 0; m < M; m++) {
      const o = (e * M + m) * N;
      if (mode !== 'tn' && cnt != null && m >= cnt) {
        out.fill(NaN, o, o + N);
        continue;
      }
      row.fill(0);
      for (let k = 0; k < kMax; k++) {
        const av = mode === 'tn' ? a[ao + k * M + m]! : a[ao + m * K + k]!;
        if (mode === 'nt') for (let n = 0; n < N; n++) row[n]! += av * b[bo + n * K + k]!;
        else for (let n = 0, bk = bo + k * N; n < N; n++) row[n]! += av * b[bk + n]!;
      }
      for (let n = 0; n < N; n++) {
        let s = row[n]!;
        if (c.epilogue?.bias) s += bias![e * N + n]!;
        if (c.epilogue?.relu) s = Math.max(s, 0);
        if (c.epilogue?.mask && !(mask![o + n]! > 0)) s = 0;
        out[o + n] = s;
      }
    }
  }
  return out;
}

/** max |got − want| / max |want| over the defined (non-NaN) entries of want. */
export function matmulRelErr(got: ArrayLike<number>, want: Float64Array): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < want.length; i++) {
    if (Number.isNaN(want[i])) continue;
    num = Math.max(num, Math.abs(got[i]! - want[i]!));
    den = Math.max(den, Math.abs(want[i]!));
  }
  return num / Math.max(den, 1e-30);
}

/** n values in [-0.5, 0.5), a fixed sequence per seed (fract of a scaled sine: no state, any length). */
export function matmulOperand(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const x = Math.sin((i + 1) * 12.9898 + seed * 78.233) * 43758.5453;
    out[i] = x - Math.floor(x) - 0.5;
  }
  return out;
}
