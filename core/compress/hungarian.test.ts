import { describe, expect, it } from 'vitest';
import { createRng } from '../space/rng.js';
import { linearAssignment } from './hungarian.js';

function permutations(n: number): number[][] {
  if (n === 0) return [[]];
  return permutations(n - 1).flatMap((p) => Array.from({ length: n }, (_, i) => [...p.slice(0, i), n - 1, ...p.slice(i)]));
}

describe('linearAssignment', () => {
  it('matches brute force over all permutations on random costs', () => {
    const rng = createRng(3);
    for (let trial = 0; trial < 20; trial++) {
      const n = 1 + (trial % 6);
      const cost = Array.from({ length: n }, () => Array.from({ length: n }, () => Math.round(rng.normal() * 10)));
      const p = linearAssignment(cost);
      expect([...p].sort((a, b) => a - b)).toEqual(Array.from({ length: n }, (_, i) => i));
      const total = (q: number[]) => q.reduce((s, j, i) => s + cost[i]![j]!, 0);
      const best = Math.min(...permutations(n).map(total));
      expect(total(p)).toBe(best);
    }
  });

  it('rejects a non-square cost', () => {
    expect(() => linearAssignment([[1, 2], [3]])).toThrow(/square/);
  });
});
