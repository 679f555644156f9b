import { describe, expect, it } from 'vitest';
import type { CompressPoint } from '../../../core/protocol/protocol.js';
import { compressCurve, compressedObjective, retainedEnergy } from './compressCurve.js';

const point = (method: CompressPoint['method'], bits: number, accuracy: number): CompressPoint => ({
  method,
  level: {},
  accuracy: [{ split: 'val', accuracy, n: 1000, ci95: [accuracy - 0.02, accuracy + 0.02] }],
  params: bits / 32,
  bits,
  latencyMs: null,
  layers: [],
});

describe('compressCurve', () => {
  const box = { width: 300, height: 200, margin: { l: 40, r: 10, t: 10, b: 30 } };
  const result = { points: [point(null, 8192 * 100, 0.85), point('quantize', 8192 * 30, 0.84), point('quantize', 8192 * 10, 0.8), point('stun', 8192 * 50, 0.82)] };

  it('one series per method, points in increasing size, smaller models further left, better ones higher', () => {
    const c = compressCurve(result, box);
    expect(c.series.map((s) => s.method)).toEqual([null, 'quantize', 'stun']);
    const q = c.series[1]!.points;
    expect(q.map((p) => p.kib)).toEqual([10, 30]);
    expect(q[0]!.cx).toBeLessThan(q[1]!.cx);
    expect(q[0]!.cy).toBeGreaterThan(q[1]!.cy); // 80 % sits lower on screen than 84 %
    expect(q[0]!.yLo).toBeGreaterThan(q[0]!.yHi);
    expect(c.series[0]!.points[0]!.cx).toBeGreaterThan(q[1]!.cx);
  });

  it('retained energy of a rank cut', () => {
    expect(retainedEnergy([3, 4], 1)).toBeCloseTo(9 / 25, 12);
    expect(retainedEnergy([3, 4], 2)).toBe(1);
    expect(retainedEnergy([], 1)).toBe(1);
  });
});

describe('compressedObjective', () => {
  it('reads validation accuracy, latency and params; no FLOPs', () => {
    const p = { ...point('stun', 8192, 0.8), latencyMs: 0.5, params: 1234 };
    expect(compressedObjective(p, 'accuracy')).toBe(0.8);
    expect(compressedObjective(p, 'latency')).toBe(0.5);
    expect(compressedObjective(p, 'params')).toBe(1234);
    expect(compressedObjective(p, 'flops')).toBeNull();
  });
});
