import { describe, expect, it } from 'vitest';
import { hypervolume, hypervolume2d, hypervolume3d, normaliseForHypervolume } from './hypervolume.js';

describe('hypervolume2d', () => {
  it('sums the staircase of a hand-made front', () => {
    // ref (4,4); (1,3) adds 3·1 = 3, (2,2) adds 2·1 = 2, (3,1) adds 1·1 = 1 → 6
    expect(hypervolume2d([[1, 3], [2, 2], [3, 1]], [4, 4])).toBe(6);
    // a dominated point (3,3) and one outside the reference box (5,0) change nothing
    expect(hypervolume2d([[3, 3], [1, 3], [5, 0], [2, 2], [3, 1]], [4, 4])).toBe(6);
    // one point: the rectangle to the reference
    expect(hypervolume2d([[0.25, 0.5]], [1, 1])).toBe(0.375);
    expect(hypervolume2d([], [1, 1])).toBe(0);
  });
});

describe('hypervolume3d', () => {
  it('matches inclusion–exclusion on boxes', () => {
    expect(hypervolume3d([[1, 1, 1]], [2, 2, 2])).toBe(1);
    // A=(0,0,1): 2·2·1 = 4, B=(1,1,0): 1·1·2 = 2, A∩B = [1,2]³ = 1 → 5
    expect(hypervolume3d([[0, 0, 1], [1, 1, 0]], [2, 2, 2])).toBe(5);
    // three unit-offset points: each box 4, pairwise overlaps 2, triple overlap 1 → 12 − 6 + 1 = 7
    expect(hypervolume3d([[1, 0, 0], [0, 1, 0], [0, 0, 1]], [2, 2, 2])).toBe(7);
    expect(hypervolume([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1]], [2, 2, 2])).toBe(7);
  });
});

describe('normaliseForHypervolume', () => {
  it('turns accuracy into error and divides costs by the largest subnet', () => {
    // accuracy 0.9 → error 0.1; 5 ms of a 10 ms largest subnet → 0.5; ref (1, 1.1)
    const { points, ref } = normaliseForHypervolume(['accuracy', 'latency'], [[0.9, 5]], [0, 10]);
    expect(points[0]![0]).toBeCloseTo(0.1, 12);
    expect(points[0]![1]).toBeCloseTo(0.5, 12);
    expect(ref).toEqual([1, 1.1]);
    // (1 − 0.1)·(1.1 − 0.5) = 0.9 · 0.6 = 0.54
    expect(hypervolume(points, ref)).toBeCloseTo(0.54, 12);
  });
});
