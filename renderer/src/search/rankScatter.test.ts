import { describe, expect, it } from 'vitest';
import { rankScatter } from './rankScatter.js';

const est = (accuracy: number) => ({ split: 'val' as const, accuracy, n: 1000, ci95: [accuracy - 0.01, accuracy + 0.01] as [number, number] });
const sub = (inh: number, seeds: number[]) => ({
  arch: { stages: [] },
  vector: [],
  params: 1000,
  flops: 2000,
  inherited: est(inh),
  standalone: seeds.map((a, i) => ({ ...est(a), seed: i + 2, trainSec: 1 })),
  standaloneMean: seeds.length ? seeds.reduce((s, v) => s + v, 0) / seeds.length : null,
});

describe('rankScatter', () => {
  const box = { width: 300, height: 300, margin: { l: 40, r: 10, t: 10, b: 40 } };

  it('places trained subnets on one shared accuracy scale, with the seeds as a bar and the y = x diagonal', () => {
    const r = rankScatter({ subnets: [sub(0.8, [0.82, 0.84]), sub(0.7, []), sub(0.75, [0.76])] }, box);
    expect(r.points.map((p) => p.index)).toEqual([0, 2]); // the untrained subnet has no point yet
    expect(r.x.domain()).toEqual(r.y.domain());
    const p = r.points[0]!;
    expect(p.cx).toBeCloseTo(r.x(0.8), 9);
    expect(p.cy).toBeCloseTo(r.y(0.83), 9);
    expect(p.yLo).toBeCloseTo(r.y(0.82), 9);
    expect(p.yHi).toBeCloseTo(r.y(0.84), 9);
    expect(r.points[1]!.yLo).toBe(r.points[1]!.yHi);
    // Every value inside the plot area; the diagonal runs corner to corner (bottom-left to top-right).
    for (const q of r.points) {
      expect(q.cx).toBeGreaterThanOrEqual(40);
      expect(q.cx).toBeLessThanOrEqual(290);
      expect(q.yHi).toBeGreaterThanOrEqual(10);
      expect(q.yLo).toBeLessThanOrEqual(260);
    }
    expect(r.diagonal).toEqual([
      [40, 260],
      [290, 10],
    ]);
  });
});
