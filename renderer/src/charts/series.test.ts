import { describe, expect, it } from 'vitest';
import type { ExpertLoad, MetricPoint } from '../../../core/protocol/protocol.js';
import { meanFluctuation, routerSeries } from './routerSeries.js';
import { samplingStats } from './samplingStats.js';

const load = (layer: string, l: number[], collapse = false): ExpertLoad => ({
  layer, load: l, expertNames: l.map((_, i) => `e${i}`), dropped: 0.1, entropy: 1, auxLoss: 0, meanActive: 2, collapse,
});
const pt = (step: number, extra: Partial<MetricPoint>): MetricPoint => ({ step, time: 0, loss: 1, accuracy: 0, stepMs: 1, samplesPerSec: 1, etaSec: 0, ...extra });

describe('routerSeries', () => {
  it('collects one heatmap column per point and layer, and flags collapse from the latest point', () => {
    const pts = [
      pt(1, { moe: [load('a', [0.5, 0.5]), load('b', [0.9, 0.1], true)] }),
      pt(2, {}),
      pt(3, { moe: [load('a', [0.6, 0.4]), load('b', [0.5, 0.5])] }),
    ];
    const s = routerSeries(pts);
    expect(s.map((l) => l.layer)).toEqual(['a', 'b']);
    expect(s[0]!.loads).toEqual([[0.5, 0.5], [0.6, 0.4]]);
    expect(s[0]!.steps).toEqual([1, 3]);
    expect(s[1]!.collapsed).toBe(false);
    expect(s[1]!.collapseAt).toEqual([true, false]);
    expect(routerSeries(pts.slice(0, 1))[1]!.collapsed).toBe(true);
    expect(routerSeries(Array.from({ length: 50 }, (_, i) => pt(i, { moe: [load('a', [1])] })), 10)[0]!.loads.length).toBe(10);
  });
  it('collects the routing metrics (diversity, dead share, load CV) where points recorded them', () => {
    const withMetrics = { ...load('a', [0.5, 0.5, 0]), diversity: 0.67, deadFraction: 1 / 3, cv: 0.71 };
    const s = routerSeries([pt(1, { moe: [load('a', [0.5, 0.5, 0])] }), pt(2, { moe: [withMetrics] })]);
    expect(s[0]!.diversity).toEqual([[2, 0.67]]);
    expect(s[0]!.deadFraction).toEqual([[2, 1 / 3]]);
    expect(s[0]!.cv).toEqual([[2, 0.71]]);
  });
  it('collects routing fluctuation from every validation point, even ones decimation drops, and its mean over layers', () => {
    const pts = Array.from({ length: 40 }, (_, i) => pt(i, { moe: [{ ...load('a', [0.5, 0.5]), ...(i % 10 === 9 ? { fluctuation: i / 100 } : {}) }, { ...load('b', [1, 0]), ...(i % 10 === 9 ? { fluctuation: 0.5 } : {}) }] }));
    const s = routerSeries(pts, 7);
    expect(s[0]!.loads.length).toBeLessThanOrEqual(7);
    expect(s[0]!.fluctuation).toEqual([[9, 0.09], [19, 0.19], [29, 0.29], [39, 0.39]]);
    expect(meanFluctuation(pts[9]!)).toBeCloseTo((0.09 + 0.5) / 2, 12);
    expect(meanFluctuation(pts[0]!)).toBeUndefined();
  });
});

describe('samplingStats', () => {
  it('scales each vector entry by its max and counts how often each choice was sampled', () => {
    const st = samplingStats([pt(1, { archVector: [0, 2] }), pt(2, { archVector: [1, 1] }), pt(3, { archVector: [1, 2] }), pt(4, {})])!;
    expect(st.dims).toBe(2);
    expect(st.steps).toBe(3);
    expect(st.columns).toEqual([[0, 1], [1, 0.5], [1, 1]]);
    expect([...st.counts[0]!.entries()].sort()).toEqual([[0, 1], [1, 2]]);
    expect(samplingStats([pt(1, {})])).toBeNull();
  });
  it('leaves out positions a step did not train', () => {
    // position 1 is only trained when position 0 (a depth choice) is 1
    const st = samplingStats([pt(1, { archVector: [0, 0] }), pt(2, { archVector: [1, 0] }), pt(3, { archVector: [1, 1] })], 600, (v) => [true, v[0] === 1])!;
    expect([...st.counts[1]!.entries()].sort()).toEqual([[0, 1], [1, 1]]);
  });
});
