/**
 * Non-negative least squares, min ‖Ax − b‖² subject to x ≥ 0, by the active-set method of Lawson and
 * Hanson (Solving Least Squares Problems, 1974, ch. 23, algorithm NNLS) — the algorithm behind
 * scipy.optimize.nnls. The latency model fits per-op costs with it: a cost cannot be negative, and an
 * unconstrained fit clamped at 0 afterwards is not the constrained optimum.
 *
 * The passive-set subproblems are solved through the normal equations with a Cholesky factorisation
 * (a tiny ridge keeps nearly collinear columns solvable); fine for the few dozen columns used here.
 */

export interface NnlsResult {
  x: number[];
  /** ‖Ax − b‖₂ at the solution. */
  residualNorm: number;
  iterations: number;
}

/** Least squares over the columns in `cols` (normal equations + Cholesky); other entries 0. */
function solvePassive(ata: number[][], atb: number[], cols: readonly number[], n: number): number[] {
  const k = cols.length;
  const m = cols.map((i) => cols.map((j) => ata[i]![j]!));
  const trace = cols.reduce((s, i) => s + ata[i]![i]!, 0);
  const ridge = 1e-12 * Math.max(trace, 1e-300);
  for (let i = 0; i < k; i++) m[i]![i]! += ridge;
  // Cholesky: m = L Lᵀ.
  const l = m.map(() => new Array<number>(k).fill(0));
  for (let i = 0; i < k; i++) {
    for (let j = 0; j <= i; j++) {
      let s = m[i]![j]!;
      for (let p = 0; p < j; p++) s -= l[i]![p]! * l[j]![p]!;
      l[i]![j] = i === j ? Math.sqrt(Math.max(s, 1e-300)) : s / l[j]![j]!;
    }
  }
  const rhs = cols.map((i) => atb[i]!);
  const y = new Array<number>(k).fill(0);
  for (let i = 0; i < k; i++) {
    let s = rhs[i]!;
    for (let p = 0; p < i; p++) s -= l[i]![p]! * y[p]!;
    y[i] = s / l[i]![i]!;
  }
  const z = new Array<number>(k).fill(0);
  for (let i = k - 1; i >= 0; i--) {
    let s = y[i]!;
    for (let p = i + 1; p < k; p++) s -= l[p]![i]! * z[p]!;
    z[i] = s / l[i]![i]!;
  }
  const out = new Array<number>(n).fill(0);
  cols.forEach((c, i) => (out[c] = z[i]!));
  return out;
}

/** A is row-major: `a[row][col]`. */
export function nnls(a: readonly (readonly number[])[], b: readonly number[], opts: { maxIterations?: number; tolerance?: number } = {}): NnlsResult {
  const rows = a.length;
  if (rows !== b.length) throw new Error(`nnls: A has ${rows} rows but b has ${b.length}`);
  const n = rows ? a[0]!.length : 0;
  const ata = Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => a.reduce((s, r) => s + r[i]! * r[j]!, 0)));
  const atb = Array.from({ length: n }, (_, i) => a.reduce((s, r, k) => s + r[i]! * b[k]!, 0));
  const scale = Math.max(1, ...atb.map(Math.abs), ...ata.map((r) => Math.max(...r.map(Math.abs))));
  const tol = opts.tolerance ?? 1e-10 * scale;
  const maxIter = opts.maxIterations ?? 3 * n + 30;
  let x = new Array<number>(n).fill(0);
  const passive = new Set<number>();
  // w = Aᵀ(b − Ax) = Aᵀb − AᵀA x: the negative gradient; KKT holds when w ≤ 0 on the active set.
  const gradient = () => atb.map((v, i) => v - ata[i]!.reduce((s, c, j) => s + c * x[j]!, 0));
  let iterations = 0;
  for (;;) {
    const w = gradient();
    let best = -1;
    for (let j = 0; j < n; j++) if (!passive.has(j) && w[j]! > tol && (best < 0 || w[j]! > w[best]!)) best = j;
    if (best < 0 || iterations >= maxIter) break;
    iterations++;
    passive.add(best);
    for (;;) {
      const cols = [...passive].sort((p, q) => p - q);
      const z = solvePassive(ata, atb, cols, n);
      if (cols.every((c) => z[c]! > 0)) {
        x = z;
        break;
      }
      // Step from x toward z as far as feasibility allows, and drop the variables that hit 0.
      let alpha = Infinity;
      for (const c of cols) if (z[c]! <= 0) alpha = Math.min(alpha, x[c]! / (x[c]! - z[c]!));
      x = x.map((xi, i) => xi + alpha * (z[i]! - xi));
      const zero = 1e-14 * Math.max(1, ...x.map(Math.abs));
      for (const c of cols) {
        if (x[c]! <= zero) {
          passive.delete(c);
          x[c] = 0;
        }
      }
      if (passive.size === 0) break;
    }
  }
  const residualNorm = Math.sqrt(a.reduce((s, r, k) => s + (r.reduce((t, v, j) => t + v * x[j]!, 0) - b[k]!) ** 2, 0));
  return { x, residualNorm, iterations };
}
