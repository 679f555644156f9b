import { describe, expect, it } from 'vitest';
import { createRng } from '../space/rng.js';
import { frobenius } from './matrix.js';
import { alignTo, groupByRouterLogits, lowRankPlusSparse, mergeGroup, permuteHidden } from './mcSmoe.js';
import { mat } from './matrix.js';
import { lowRank, svd } from './svd.js';
import { expertForward, randomExpert, randomRows } from './testExperts.js';

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

describe('MC-SMoE', () => {
  const perm = [3, 0, 4, 1, 5, 2];

  it('permuting hidden neurons leaves the expert function unchanged', () => {
    const e = randomExpert(4, 6, 1);
    const x = randomRows(5, 4, 2);
    expect(maxDiff(expertForward(permuteHidden(e, perm), x, 5), expertForward(e, x, 5))).toBeLessThan(1e-5);
  });

  it('alignment undoes a permutation of a near-copy', () => {
    const a = randomExpert(4, 6, 1);
    const noise = randomExpert(4, 6, 9, 0.01);
    const b = permuteHidden({ up: { ...a.up, kernel: a.up.kernel.map((v, i) => v + noise.up.kernel[i]!) }, down: a.down }, perm);
    const aligned = alignTo(a, b);
    expect(maxDiff(aligned.down.kernel, a.down.kernel)).toBe(0);
    expect(maxDiff(aligned.up.bias!, a.up.bias!)).toBe(0);
  });

  it('the merged expert is the usage-weighted average of the permutation-aligned experts', () => {
    const a = randomExpert(4, 6, 1);
    const delta = randomExpert(4, 6, 5, 0.2);
    // b = a + δ with its hidden units shuffled: aligned, it is a + δ again.
    const bAligned = {
      up: { ...a.up, kernel: a.up.kernel.map((v, i) => v + delta.up.kernel[i]!), bias: a.up.bias!.map((v, i) => v + delta.up.bias![i]!) },
      down: { ...a.down, kernel: a.down.kernel.map((v, i) => v + delta.down.kernel[i]!), bias: a.down.bias!.map((v, i) => v + delta.down.bias![i]!) },
    };
    const b = permuteHidden(bAligned, perm);
    const merged = mergeGroup([a, b], [30, 10]);
    // Independently: 0.75·a + 0.25·(a + δ) = a + 0.25·δ, entry by entry.
    const expectUp = a.up.kernel.map((v, i) => 0.75 * v + 0.25 * bAligned.up.kernel[i]!);
    const expectDown = a.down.kernel.map((v, i) => 0.75 * v + 0.25 * bAligned.down.kernel[i]!);
    const expectB1 = a.up.bias!.map((v, i) => 0.75 * v + 0.25 * bAligned.up.bias![i]!);
    expect(maxDiff(merged.up.kernel, expectUp)).toBeLessThan(1e-6);
    expect(maxDiff(merged.down.kernel, expectDown)).toBeLessThan(1e-6);
    expect(maxDiff(merged.up.bias!, expectB1)).toBeLessThan(1e-6);
  });

  it('groups each expert with the dominant expert whose router logits it follows', () => {
    const rng = createRng(4);
    const n = 50;
    const S = 4;
    const logits = new Float64Array(n * S);
    for (let t = 0; t < n; t++) {
      const u = rng.normal();
      const v = rng.normal();
      // Slot 2 tracks slot 1, slot 3 tracks slot 0; slots 0 and 1 are independent.
      logits[t * S + 0] = u;
      logits[t * S + 1] = v;
      logits[t * S + 2] = v + 0.1 * rng.normal();
      logits[t * S + 3] = u + 0.1 * rng.normal();
    }
    expect(groupByRouterLogits(logits, n, S, [10, 8, 1, 2], [0, 1, 2, 3], 2)).toEqual([[0, 3], [1, 2]]);
    // Dominance is by usage, not by index.
    expect(groupByRouterLogits(logits, n, S, [2, 1, 8, 10], [0, 1, 2, 3], 2)).toEqual([[3, 0], [2, 1]]);
    expect(() => groupByRouterLogits(logits, n, S, [1, 1, 1, 1], [0, 1, 2, 3], 5)).toThrow(/groups/);
  });

  it('low-rank + sparse: the rank-r truncation plus the largest residual entries', () => {
    const rng = createRng(8);
    const [m, k] = [6, 5];
    const w = Float32Array.from({ length: m * k }, () => rng.normal());
    const L = lowRank(svd(mat(m, k, w)), 2).data;
    const none = lowRankPlusSparse(w, m, k, 2, 0);
    expect(maxDiff(none.kernel, L)).toBeLessThan(1e-6);
    const some = lowRankPlusSparse(w, m, k, 2, 0.2);
    const resid = Array.from(w, (v, i) => Math.abs(v - L[i]!));
    const kept = [...resid.keys()].sort((a, b) => resid[b]! - resid[a]!).slice(0, 6);
    for (let i = 0; i < w.length; i++) expect(some.kernel[i]!).toBeCloseTo(kept.includes(i) ? w[i]! : L[i]!, 5);
    expect(some.nnz).toBe(6);
    expect(some.storedParams).toBe(2 * (m + k) + 2 + 12);
    expect(frobenius(w.map((v, i) => v - some.kernel[i]!))).toBeLessThan(frobenius(w.map((v, i) => v - none.kernel[i]!)));
  });
});
