import { describe, expect, it } from 'vitest';
import { nnls } from './nnls.js';

describe('nnls (Lawson–Hanson)', () => {
  it('finds the constrained optimum, not the clamped unconstrained one', () => {
    // x1 = 2, x2 = −1, x1 + x2 = 1. Unconstrained LS: (2, −1); clamping gives (2, 0) with ‖r‖² = 2.
    // With x2 = 0 fixed, min (x1−2)² + 1 + (x1−1)² at x1 = 1.5 (‖r‖² = 1.5), and ∂/∂x2 ≥ 0 there (KKT).
    const r = nnls([[1, 0], [0, 1], [1, 1]], [2, -1, 1]);
    expect(r.x[0]).toBeCloseTo(1.5, 10);
    expect(r.x[1]).toBe(0);
    expect(r.residualNorm ** 2).toBeCloseTo(1.5, 10);
  });

  it('equals ordinary least squares when that solution is non-negative', () => {
    // Fit y = 1 + 2t exactly.
    const t = [0, 1, 2, 3, 4];
    const r = nnls(t.map((v) => [1, v]), t.map((v) => 1 + 2 * v));
    expect(r.x[0]).toBeCloseTo(1, 9);
    expect(r.x[1]).toBeCloseTo(2, 9);
    expect(r.residualNorm).toBeLessThan(1e-8);
  });

  it('matches scipy.optimize.nnls on a case where two of three variables bind', () => {
    // scipy.optimize.nnls([[1,0],[1,0],[0,1]], [2,1,1]) → x = [1.5, 1.0], rnorm = 0.7071…
    const r = nnls([[1, 0], [1, 0], [0, 1]], [2, 1, 1]);
    expect(r.x[0]).toBeCloseTo(1.5, 10);
    expect(r.x[1]).toBeCloseTo(1, 10);
    expect(r.residualNorm).toBeCloseTo(Math.SQRT1_2, 10);
    // b ≤ 0 everywhere: the optimum is x = 0.
    expect(nnls([[1, 2], [3, 4]], [-1, -2]).x).toEqual([0, 0]);
  });

  it('satisfies the KKT conditions on a random overdetermined problem', () => {
    let seed = 7;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1;
    const a = Array.from({ length: 30 }, () => Array.from({ length: 8 }, rand));
    const b = Array.from({ length: 30 }, rand);
    const { x } = nnls(a, b);
    const resid = b.map((bi, k) => bi - a[k]!.reduce((s, v, j) => s + v * x[j]!, 0));
    const w = x.map((_, j) => a.reduce((s, row, k) => s + row[j]! * resid[k]!, 0));
    x.forEach((xj, j) => {
      expect(xj).toBeGreaterThanOrEqual(0);
      if (xj > 0) expect(Math.abs(w[j]!)).toBeLessThan(1e-8);
      else expect(w[j]!).toBeLessThan(1e-8);
    });
    expect(x.some((v) => v === 0)).toBe(true);
  });
});
