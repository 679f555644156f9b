/**
 * Plain weight arrays the compression methods work on: row-major Float32Array kernels with their shape,
 * the same layout as the subnet graph's dense layers (kernel [inDim, outDim], y = x·W + b), so a graph's
 * `DenseWeights` and `Ffn` are these types structurally and the numerical cores need no graph import.
 */

export interface DenseMatrix {
  /** [inDim, outDim] row-major. */
  kernel: Float32Array;
  bias: Float32Array | null;
  inDim: number;
  outDim: number;
}

/** One expert: dim → hidden (activation) → dim. */
export interface ExpertFfn {
  up: DenseMatrix;
  down: DenseMatrix;
}

/** A row-major [rows, cols] matrix in float64 (the methods' working precision). */
export interface Mat {
  data: Float64Array;
  rows: number;
  cols: number;
}

export function mat(rows: number, cols: number, data?: ArrayLike<number>): Mat {
  const d = new Float64Array(rows * cols);
  if (data) {
    if (data.length !== rows * cols) throw new Error(`matrix data has ${data.length} values, expected ${rows}×${cols}`);
    d.set(data);
  }
  return { data: d, rows, cols };
}

export function matMul(a: Mat, b: Mat): Mat {
  if (a.cols !== b.rows) throw new Error(`matMul: ${a.rows}×${a.cols} · ${b.rows}×${b.cols}`);
  const out = mat(a.rows, b.cols);
  for (let i = 0; i < a.rows; i++) {
    for (let k = 0; k < a.cols; k++) {
      const v = a.data[i * a.cols + k]!;
      if (v === 0) continue;
      const bo = k * b.cols;
      const oo = i * b.cols;
      for (let j = 0; j < b.cols; j++) out.data[oo + j]! += v * b.data[bo + j]!;
    }
  }
  return out;
}

export function transpose(a: Mat): Mat {
  const out = mat(a.cols, a.rows);
  for (let i = 0; i < a.rows; i++) for (let j = 0; j < a.cols; j++) out.data[j * a.rows + i] = a.data[i * a.cols + j]!;
  return out;
}

export function frobenius(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * a[i]!;
  return Math.sqrt(s);
}

export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

/** Cosine similarity; 0 when either vector is zero. */
export function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const na = frobenius(a);
  const nb = frobenius(b);
  return na === 0 || nb === 0 ? 0 : dot(a, b) / (na * nb);
}

/** Column `j` of a row-major [rows, cols] array. */
export function column(data: ArrayLike<number>, rows: number, cols: number, j: number): Float64Array {
  const out = new Float64Array(rows);
  for (let i = 0; i < rows; i++) out[i] = data[i * cols + j]!;
  return out;
}

/** y = x·W + b for a batch x [n, inDim] (row-major), with an optional elementwise activation. */
export function denseForward(x: ArrayLike<number>, n: number, w: DenseMatrix, act?: (v: number) => number): Float64Array {
  const y = new Float64Array(n * w.outDim);
  for (let r = 0; r < n; r++) {
    for (let i = 0; i < w.inDim; i++) {
      const v = x[r * w.inDim + i]!;
      if (v === 0) continue;
      for (let j = 0; j < w.outDim; j++) y[r * w.outDim + j]! += v * w.kernel[i * w.outDim + j]!;
    }
    if (w.bias) for (let j = 0; j < w.outDim; j++) y[r * w.outDim + j]! += w.bias[j]!;
    if (act) for (let j = 0; j < w.outDim; j++) y[r * w.outDim + j] = act(y[r * w.outDim + j]!);
  }
  return y;
}

export function cloneDense(w: DenseMatrix): DenseMatrix {
  return { kernel: w.kernel.slice(), bias: w.bias ? w.bias.slice() : null, inDim: w.inDim, outDim: w.outDim };
}

/** Parameters of one expert (both kernels and biases). */
export function expertParams(e: ExpertFfn): number {
  const d = (w: DenseMatrix) => w.kernel.length + (w.bias?.length ?? 0);
  return d(e.up) + d(e.down);
}

/** Normalised weights ∝ `w` (uniform when they sum to zero). */
export function normalizeWeights(w: readonly number[]): number[] {
  const s = w.reduce((a, b) => a + b, 0);
  return s > 0 ? w.map((v) => v / s) : w.map(() => 1 / w.length);
}

/** X with A·X = B for a symmetric positive-definite A [n, n] and B [n, m] (Cholesky, A = L·Lᵀ). */
export function solveSpd(a: Mat, b: Mat): Mat {
  const n = a.rows;
  if (a.cols !== n || b.rows !== n) throw new Error(`solveSpd: A ${a.rows}×${a.cols}, B ${b.rows}×${b.cols}`);
  const L = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = a.data[i * n + j]!;
      for (let k = 0; k < j; k++) s -= L[i * n + k]! * L[j * n + k]!;
      if (i === j) {
        if (!(s > 0)) throw new Error('solveSpd: matrix is not positive definite');
        L[i * n + i] = Math.sqrt(s);
      } else L[i * n + j] = s / L[j * n + j]!;
    }
  }
  const m = b.cols;
  const x = mat(n, m, b.data);
  for (let c = 0; c < m; c++) {
    for (let i = 0; i < n; i++) {
      let s = x.data[i * m + c]!;
      for (let k = 0; k < i; k++) s -= L[i * n + k]! * x.data[k * m + c]!;
      x.data[i * m + c] = s / L[i * n + i]!;
    }
    for (let i = n - 1; i >= 0; i--) {
      let s = x.data[i * m + c]!;
      for (let k = i + 1; k < n; k++) s -= L[k * n + i]! * x.data[k * m + c]!;
      x.data[i * m + c] = s / L[i * n + i]!;
    }
  }
  return x;
}
