import { describe, expect, it } from 'vitest';
import { accuracyEstimate, accuracyInterval, formatAccuracy } from './accuracyInterval.js';

describe('accuracyInterval (Wilson score)', () => {
  it('matches hand-computed values', () => {
    // 85/100: p = 0.85, z² = 3.841459, centre = (0.85 + z²/200)/(1 + z²/100) = 0.837052,
    // half = z·√(p(1−p)/100 + z²/40000)/(1 + z²/100) = 0.069888 → [0.767164, 0.906940].
    const [lo, hi] = accuracyInterval(85, 100);
    expect(lo).toBeCloseTo(0.767164, 5);
    expect(hi).toBeCloseTo(0.90694, 5);
    // 0/10: lower bound 0, upper z²/(n + z²) = 3.841459/13.841459 = 0.277533 (the Wald interval
    // would collapse to [0, 0]).
    const [lo0, hi0] = accuracyInterval(0, 10);
    expect(lo0).toBe(0);
    expect(hi0).toBeCloseTo(0.277533, 5);
    // 4250/5000 (p = 0.85, n = 5000): half ≈ 1.96·√(0.85·0.15/5000) = 0.009898, centre ≈ p.
    const [a, b] = accuracyInterval(4250, 5000);
    expect((b - a) / 2).toBeCloseTo(0.009896, 5);
    expect(accuracyInterval(0, 0)).toEqual([0, 1]);
  });

  it('formats with split and sample count', () => {
    const e = accuracyEstimate('val', 0.85, 5000);
    expect(e.ci95[0]).toBeLessThan(0.85);
    expect(e.ci95[1]).toBeGreaterThan(0.85);
    expect(formatAccuracy(e)).toBe('85.0 % ± 1.0 (val, n=5000)');
  });
});
