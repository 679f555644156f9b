/**
 * Thin singular value decomposition A = U·diag(S)·Vᵀ by one-sided Jacobi rotations (Hestenes 1958;
 * the form in Golub & Van Loan, "Matrix Computations", §8.6.3 / Demmel & Veselić 1992): columns of a
 * working copy are rotated pairwise until all pairs are orthogonal; their norms are the singular values,
 * the normalised columns U, the accumulated rotations V. Float64 throughout. Written here rather than
 * taken from npm (ml-matrix has one) to keep core/ free of a dependency for ~60 lines; it is tested
 * against reconstruction, orthogonality and a matrix built with known singular values.
 */
import { mat, transpose, type Mat } from './matrix.js';

export interface Svd {
  /** [m, k] with orthonormal columns, k = min(m, n). */
  U: Mat;
  /** k singular values, descending. */
  S: Float64Array;
  /** [n, k] with orthonormal columns. */
  V: Mat;
}

export function svd(a: Mat, opts: { tol?: number; maxSweeps?: number } = {}): Svd {
  // One-sided Jacobi orthogonalises columns; work on the orientation with fewer columns.
  if (a.cols > a.rows) {
    const t = svd(transpose(a), opts);
    return { U: t.V, S: t.S, V: t.U };
  }
  const m = a.rows;
  const n = a.cols;
  const tol = opts.tol ?? 1e-15;
  const maxSweeps = opts.maxSweeps ?? 60;
  const W = a.data.slice();
  const V = new Float64Array(n * n);
  for (let i = 0; i < n; i++) V[i * n + i] = 1;
  for (let sweep = 0; sweep < maxSweeps; sweep++) {
    let rotated = false;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        let alpha = 0;
        let beta = 0;
        let gamma = 0;
        for (let i = 0; i < m; i++) {
          const wp = W[i * n + p]!;
          const wq = W[i * n + q]!;
          alpha += wp * wp;
          beta += wq * wq;
          gamma += wp * wq;
        }
        if (gamma === 0 || Math.abs(gamma) <= tol * Math.sqrt(alpha * beta)) continue;
        rotated = true;
        const zeta = (beta - alpha) / (2 * gamma);
        const t = Math.sign(zeta || 1) / (Math.abs(zeta) + Math.sqrt(1 + zeta * zeta));
        const c = 1 / Math.sqrt(1 + t * t);
        const s = c * t;
        for (let i = 0; i < m; i++) {
          const wp = W[i * n + p]!;
          const wq = W[i * n + q]!;
          W[i * n + p] = c * wp - s * wq;
          W[i * n + q] = s * wp + c * wq;
        }
        for (let i = 0; i < n; i++) {
          const vp = V[i * n + p]!;
          const vq = V[i * n + q]!;
          V[i * n + p] = c * vp - s * vq;
          V[i * n + q] = s * vp + c * vq;
        }
      }
    }
    if (!rotated) break;
  }
  const norms = Array.from({ length: n }, (_, j) => {
    let s = 0;
    for (let i = 0; i < m; i++) s += W[i * n + j]! ** 2;
    return Math.sqrt(s);
  });
  const order = norms.map((_, j) => j).sort((x, y) => norms[y]! - norms[x]! || x - y);
  const U = mat(m, n);
  const Vs = mat(n, n);
  const S = new Float64Array(n);
  order.forEach((j, k) => {
    const sj = norms[j]!;
    S[k] = sj;
    for (let i = 0; i < m; i++) U.data[i * n + k] = sj > 0 ? W[i * n + j]! / sj : 0;
    for (let i = 0; i < n; i++) Vs.data[i * n + k] = V[i * n + j]!;
  });
  completeBasis(U, S);
  return { U, S, V: Vs };
}

/**
 * Columns of U whose singular value is 0 come out as zero vectors; replace them by unit vectors
 * orthogonal to the others (Gram–Schmidt over the standard basis) so U keeps orthonormal columns.
 */
function completeBasis(U: Mat, S: Float64Array): void {
  const { rows: m, cols: k } = U;
  for (let j = 0; j < k; j++) {
    if (S[j]! > 0) continue;
    for (let e = 0; e < m; e++) {
      const v = new Float64Array(m);
      v[e] = 1;
      for (let c = 0; c < k; c++) {
        if (c === j) continue;
        let d = 0;
        for (let i = 0; i < m; i++) d += U.data[i * k + c]! * v[i]!;
        for (let i = 0; i < m; i++) v[i]! -= d * U.data[i * k + c]!;
      }
      const nv = Math.sqrt(v.reduce((s, x) => s + x * x, 0));
      if (nv > 1e-8) {
        for (let i = 0; i < m; i++) U.data[i * k + j] = v[i]! / nv;
        break;
      }
    }
  }
}

/** The rank-r truncation U_r·diag(S_r)·V_rᵀ as an [m, n] matrix (Eckart–Young: the best rank-r approximation). */
export function lowRank(d: Svd, r: number): Mat {
  const m = d.U.rows;
  const n = d.V.rows;
  const k = d.S.length;
  const rr = Math.min(r, k);
  const out = mat(m, n);
  for (let c = 0; c < rr; c++) {
    const s = d.S[c]!;
    if (s === 0) continue;
    for (let i = 0; i < m; i++) {
      const u = d.U.data[i * k + c]! * s;
      if (u === 0) continue;
      for (let j = 0; j < n; j++) out.data[i * n + j]! += u * d.V.data[j * k + c]!;
    }
  }
  return out;
}
