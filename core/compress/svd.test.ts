import { describe, expect, it } from 'vitest';
import { createRng } from '../space/rng.js';
import { mat, matMul, transpose, type Mat } from './matrix.js';
import { lowRank, svd } from './svd.js';

function randomMat(rows: number, cols: number, seed: number): Mat {
  const rng = createRng(seed);
  return mat(rows, cols, Array.from({ length: rows * cols }, () => rng.normal()));
}

/** Orthonormal columns by modified Gram–Schmidt (independent of the Jacobi code). */
function orthonormal(rows: number, cols: number, seed: number): Mat {
  const q = randomMat(rows, cols, seed);
  for (let j = 0; j < cols; j++) {
    for (let c = 0; c < j; c++) {
      let d = 0;
      for (let i = 0; i < rows; i++) d += q.data[i * cols + c]! * q.data[i * cols + j]!;
      for (let i = 0; i < rows; i++) q.data[i * cols + j]! -= d * q.data[i * cols + c]!;
    }
    let nrm = 0;
    for (let i = 0; i < rows; i++) nrm += q.data[i * cols + j]! ** 2;
    for (let i = 0; i < rows; i++) q.data[i * cols + j]! /= Math.sqrt(nrm);
  }
  return q;
}

function maxAbsDiff(a: Mat, b: Mat): number {
  let m = 0;
  for (let i = 0; i < a.data.length; i++) m = Math.max(m, Math.abs(a.data[i]! - b.data[i]!));
  return m;
}

function identity(n: number): Mat {
  const I = mat(n, n);
  for (let i = 0; i < n; i++) I.data[i * n + i] = 1;
  return I;
}

function scaleCols(a: Mat, s: Float64Array): Mat {
  const out = mat(a.rows, a.cols, a.data);
  for (let i = 0; i < a.rows; i++) for (let j = 0; j < a.cols; j++) out.data[i * a.cols + j]! *= s[j]!;
  return out;
}

describe('svd (one-sided Jacobi)', () => {
  it.each([
    [7, 4],
    [4, 7],
    [6, 6],
  ])('reconstructs a random %i×%i matrix with orthonormal U and V', (m, n) => {
    const a = randomMat(m, n, m * 10 + n);
    const { U, S, V } = svd(a);
    expect(maxAbsDiff(matMul(scaleCols(U, S), transpose(V)), a)).toBeLessThan(1e-10);
    const k = Math.min(m, n);
    expect(maxAbsDiff(matMul(transpose(U), U), identity(k))).toBeLessThan(1e-10);
    expect(maxAbsDiff(matMul(transpose(V), V), identity(k))).toBeLessThan(1e-10);
    for (let i = 1; i < k; i++) expect(S[i]!).toBeLessThanOrEqual(S[i - 1]!);
  });

  it('recovers the singular values of a matrix built as Q1·diag(s)·Q2ᵀ', () => {
    const s = Float64Array.from([5, 3, 2, 0.5, 0]);
    const a = matMul(scaleCols(orthonormal(8, 5, 1), s), transpose(orthonormal(5, 5, 2)));
    const d = svd(a);
    for (let i = 0; i < 5; i++) expect(d.S[i]!).toBeCloseTo(s[i]!, 10);
    // A rank-deficient input still gets an orthonormal U.
    expect(maxAbsDiff(matMul(transpose(d.U), d.U), identity(5))).toBeLessThan(1e-10);
    // Eckart–Young: the rank-2 truncation's error is √(s₃² + s₄² + …).
    const r2 = lowRank(d, 2);
    let e = 0;
    for (let i = 0; i < a.data.length; i++) e += (a.data[i]! - r2.data[i]!) ** 2;
    expect(Math.sqrt(e)).toBeCloseTo(Math.sqrt(2 ** 2 + 0.5 ** 2), 10);
  });
});
