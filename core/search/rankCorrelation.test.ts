import { describe, expect, it } from 'vitest';
import { averageRanks, kendallTauB, spearmanRho } from './rankCorrelation.js';

describe('kendallTauB', () => {
  it('matches scipy.stats.kendalltau on its documented example (ties in both variables)', () => {
    // scipy docs: kendalltau([12, 2, 1, 12, 2], [1, 4, 7, 1, 0]) → -0.47140452079103173
    expect(kendallTauB([12, 2, 1, 12, 2], [1, 4, 7, 1, 0])).toBeCloseTo(-0.47140452079103173, 12);
  });

  it('hand-computed: C − D over the untied pairs, τ-b denominator', () => {
    // x = [1,2,3,4], y = [1,3,2,4]: 6 pairs, one discordant (2,3) → (5 − 1)/6.
    expect(kendallTauB([1, 2, 3, 4], [1, 3, 2, 4])).toBeCloseTo(4 / 6, 12);
    // One tie in x: x = [1,1,2,3], y = [1,2,3,4]: C = 5, D = 0, Tx = 1, Ty = 0 → 5/√(5·6).
    expect(kendallTauB([1, 1, 2, 3], [1, 2, 3, 4])).toBeCloseTo(5 / Math.sqrt(30), 12);
    expect(kendallTauB([1, 2, 3], [3, 2, 1])).toBe(-1);
  });

  it('is NaN for a constant side and rejects unequal lengths', () => {
    expect(kendallTauB([1, 1, 1], [1, 2, 3])).toBeNaN();
    expect(() => kendallTauB([1, 2], [1])).toThrow(/equal lengths/);
  });
});

describe('spearmanRho', () => {
  it('matches scipy.stats.spearmanr on its documented example (a tie in y)', () => {
    // scipy docs: spearmanr([1, 2, 3, 4, 5], [5, 6, 7, 8, 7]) → 0.8207826816681233
    expect(spearmanRho([1, 2, 3, 4, 5], [5, 6, 7, 8, 7])).toBeCloseTo(0.8207826816681233, 12);
  });

  it('hand-computed without ties: 1 − 6Σd²/(n(n²−1))', () => {
    // ranks y = [2,1,4,3,5]: Σd² = 4 → 1 − 24/120 = 0.8.
    expect(spearmanRho([10, 20, 30, 40, 50], [2, 1, 4, 3, 5])).toBeCloseTo(0.8, 12);
  });

  it('average ranks for ties', () => {
    expect(averageRanks([3, 1, 3, 2])).toEqual([3.5, 1, 3.5, 2]);
  });
});
