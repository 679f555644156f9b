import { describe, expect, it } from 'vitest';
import { constrainedDominates, crowdingDistance, dominates, nonDominatedSort, paretoFront, paretoRanks } from './paretoFront.js';

describe('dominance', () => {
  it('minimises by default and honours a sign vector for maximised objectives', () => {
    expect(dominates([1, 2], [2, 2])).toBe(true);
    expect(dominates([2, 2], [2, 2])).toBe(false); // equal: no strict improvement
    expect(dominates([1, 3], [2, 2])).toBe(false); // trade-off
    // accuracy (max) and latency (min): 0.9 @ 5 ms beats 0.8 @ 5 ms
    expect(dominates([0.9, 5], [0.8, 5], [-1, 1])).toBe(true);
    expect(dominates([0.9, 5], [0.8, 5], [1, 1])).toBe(false);
  });

  it('constraint-domination: feasible beats infeasible, smaller violation beats larger', () => {
    expect(constrainedDominates([9, 9], [0, 0], 0, 0.5)).toBe(true);
    expect(constrainedDominates([0, 0], [9, 9], 0.5, 0)).toBe(false);
    expect(constrainedDominates([9, 9], [0, 0], 0.1, 0.5)).toBe(true);
    expect(constrainedDominates([0, 0], [9, 9], 0.5, 0.1)).toBe(false);
  });
});

describe('nonDominatedSort', () => {
  it('splits hand-made points into fronts', () => {
    //            a       b       c       d (dominated by b)  e (dominated by all)
    const pts = [[1, 5], [2, 3], [4, 1], [3, 4], [5, 5]];
    expect(nonDominatedSort(pts).map((f) => f.sort())).toEqual([[0, 1, 2], [3], [4]]);
    expect(paretoRanks(pts)).toEqual([0, 0, 0, 1, 2]);
    expect(paretoFront(pts)).toEqual([0, 1, 2]);
  });

  it('mixes a maximised accuracy with a minimised latency', () => {
    // p(0.9, 10 ms), q(0.8, 5 ms), r(0.85, 12 ms) is dominated by p, s(0.7, 6 ms) by q
    const pts = [[0.9, 10], [0.8, 5], [0.85, 12], [0.7, 6]];
    expect(paretoFront(pts, [-1, 1])).toEqual([0, 1]);
    expect(nonDominatedSort(pts, [-1, 1]).map((f) => f.sort())).toEqual([[0, 1], [2, 3]]);
  });

  it('puts infeasible points behind every feasible one, ordered by violation', () => {
    const pts = [[0, 0], [5, 5], [1, 1]];
    const fronts = nonDominatedSort(pts, undefined, [2, 0, 1]);
    expect(fronts).toEqual([[1], [2], [0]]);
  });
});

describe('crowdingDistance', () => {
  it('matches the hand computation for three points', () => {
    // (1,5) (2,3) (4,1): for b, f1 gap (4−1)/3 = 1 and f2 gap (5−1)/4 = 1, so 2; extremes ∞
    expect(crowdingDistance([[1, 5], [2, 3], [4, 1]], [0, 1, 2])).toEqual([Infinity, 2, Infinity]);
  });

  it('matches the hand computation for four points', () => {
    // (0,4) (1,2) (3,1) (4,0), both ranges 4.
    // (1,2): f1 neighbours 0 and 3 → 3/4; f2 neighbours 1 and 4 → 3/4; sum 1.5
    // (3,1): f1 neighbours 1 and 4 → 3/4; f2 neighbours 0 and 2 → 2/4; sum 1.25
    const d = crowdingDistance([[0, 4], [1, 2], [3, 1], [4, 0]], [0, 1, 2, 3]);
    expect(d[0]).toBe(Infinity);
    expect(d[1]).toBeCloseTo(1.5, 12);
    expect(d[2]).toBeCloseTo(1.25, 12);
    expect(d[3]).toBe(Infinity);
  });
});
