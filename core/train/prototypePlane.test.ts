import { describe, expect, it } from 'vitest';
import { createRng } from '../space/rng.js';
import { principalAxes, prototypePlane } from './prototypePlane.js';

describe('prototype plane (PCA)', () => {
  it('finds the principal axes of a known covariance', () => {
    // diag(9, 4, 1) rotated by 90° in the first two coordinates → axes e1, e0.
    const { axes, values } = principalAxes([[4, 0, 0], [0, 9, 0], [0, 0, 1]], 2);
    expect(values[0]).toBeCloseTo(9, 6);
    expect(values[1]).toBeCloseTo(4, 6);
    expect(Math.abs(axes[0]![1]!)).toBeCloseTo(1, 6);
    expect(Math.abs(axes[1]![0]!)).toBeCloseTo(1, 6);
  });

  it('projects normalised tokens and prototypes; a prototype at a cluster lands on it', () => {
    const rng = createRng(2);
    const centres = [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0]];
    const tokens: number[][] = [];
    const experts: number[] = [];
    for (let i = 0; i < 90; i++) {
      const e = i % 3;
      tokens.push(centres[e]!.map((c) => 3 * c + 0.05 * rng.normal()));
      experts.push(e);
    }
    const plane = prototypePlane(tokens, experts, centres.map((c) => c.map((v) => 5 * v)));
    expect(plane.tokens).toHaveLength(90);
    expect(plane.explained).toBeGreaterThan(0.95); // three clusters on a sphere: a plane holds them
    for (let e = 0; e < 3; e++) {
      const mine = plane.tokens.filter((t) => t[2] === e);
      const cx = mine.reduce((s, t) => s + t[0], 0) / mine.length;
      const cy = mine.reduce((s, t) => s + t[1], 0) / mine.length;
      const [px, py] = plane.prototypes[e]!;
      expect(Math.hypot(cx - px, cy - py)).toBeLessThan(0.05);
    }
  });
});
