import { describe, expect, it } from 'vitest';
import { fillHeatmap, rampColor, categoryColor, hexToRgb } from './heatmapColor.js';
import { normaliseColumns, normaliseCoactivation, normaliseRows } from './matrix.js';
import { axisScale, decimate, formatCount, formatDuration, paddedExtent, smoothSeries } from './scales.js';

describe('scales', () => {
  it('pads extents and survives flat, empty and non-finite series', () => {
    expect(paddedExtent([0, 10])).toEqual([-0.5, 10.5]);
    expect(paddedExtent([3, 3])).toEqual([2.5, 3.5]);
    expect(paddedExtent([])).toEqual([0, 1]);
    expect(paddedExtent([NaN, 1, Infinity, 2], 0)).toEqual([1, 2]);
  });

  it('decimates to at most max points and keeps the first and last', () => {
    const xs = Array.from({ length: 1001 }, (_, i) => i);
    const d = decimate(xs, 100);
    expect(d.length).toBe(100);
    expect(d[0]).toBe(0);
    expect(d[99]).toBe(1000);
    expect(decimate([1, 2, 3], 10)).toEqual([1, 2, 3]);
  });

  it('builds flipped and log axes', () => {
    const lin = axisScale([0, 100], [0, 200]);
    expect(lin(0)).toBeGreaterThanOrEqual(0);
    expect(lin(100)).toBeLessThanOrEqual(200);
    expect(lin(100)).toBeGreaterThan(lin(50));
    expect(lin(50)).toBeGreaterThan(lin(0));
    const flipped = axisScale([0, 100], [0, 200], { flip: true });
    expect(flipped(100)).toBeLessThan(flipped(0));
    const log = axisScale([1, 10, 100, 0], [0, 100], { log: true });
    expect(log(10)).toBeCloseTo(50, 5);
    expect(log(0.0001)).toBe(0); // clamped, non-positive values do not blow up the axis
  });

  it('smooths a series with a debiased moving average', () => {
    const pts: [number, number][] = [[0, 1], [1, 1], [2, 1]];
    expect(smoothSeries(pts, 0.9).map((p) => +p[1].toFixed(9))).toEqual([1, 1, 1]);
    const step = smoothSeries([[0, 0], [1, 10], [2, 10]], 0.5);
    expect(step[0]).toEqual([0, 0]);
    expect(step[1]![1]).toBeCloseTo(10 * (0.5 / 0.75), 9);
    expect(step[2]![1]).toBeGreaterThan(step[1]![1]);
    expect(smoothSeries([[0, 3], [1, NaN], [2, 5]], 0)).toEqual([[0, 3], [2, 5]]);
  });

  it('formats durations and counts', () => {
    expect(formatDuration(12.4)).toBe('12s');
    expect(formatDuration(185)).toBe('3m 05s');
    expect(formatDuration(3720)).toBe('1h 02m');
    expect(formatDuration(-1)).toBe('—');
    expect(formatCount(1234)).toBe('1.23k');
    expect(formatCount(4.5e6)).toBe('4.5M');
    expect(formatCount(12)).toBe('12');
  });
});

describe('heatmap colours', () => {
  it('maps the ramp ends and clamps out-of-range values', () => {
    expect(rampColor(0)).toEqual([68, 1, 84]);
    expect(rampColor(1)).toEqual([253, 231, 37]);
    expect(rampColor(-3)).toEqual(rampColor(0));
    expect(rampColor(7)).toEqual(rampColor(1));
    expect(rampColor(NaN)).toEqual(rampColor(0));
    // brightness grows along the ramp, so more load reads as brighter
    const lum = (t: number) => rampColor(t).reduce((a, b) => a + b, 0);
    expect(lum(0.25)).toBeLessThan(lum(0.5));
    expect(lum(0.5)).toBeLessThan(lum(0.75));
  });

  it('fills an RGBA buffer column by column, scaled by the largest value', () => {
    const cols = [
      [0, 1],
      [0.5, 0],
    ];
    const buf = new Uint8ClampedArray(2 * 2 * 4);
    fillHeatmap(buf, cols, 2);
    const px = (x: number, y: number) => Array.from(buf.slice((y * 2 + x) * 4, (y * 2 + x) * 4 + 4));
    expect(px(0, 0)).toEqual([...rampColor(0), 255]);
    expect(px(0, 1)).toEqual([...rampColor(1), 255]);
    expect(px(1, 0)).toEqual([...rampColor(0.5), 255]);
    fillHeatmap(buf, cols, 2, 2);
    expect(px(0, 1)).toEqual([...rampColor(0.5), 255]);
  });

  it('gives distinct categorical colours past ten and parses hex', () => {
    // distinct past the first ten (64 expert slots get 64 colours), valid hex throughout
    const many = Array.from({ length: 64 }, (_, i) => categoryColor(i));
    expect(new Set(many).size).toBe(64);
    for (const c of many) expect(c).toMatch(/^#[0-9a-f]{6}$/);
    expect(hexToRgb(categoryColor(10)).every((v) => v >= 0 && v <= 255)).toBe(true);
    expect(hexToRgb('#ff8000')).toEqual([255, 128, 0]);
  });
});

describe('matrix normalisation', () => {
  const m = [
    [2, 2, 0],
    [0, 6, 0],
  ];
  it('normalises rows and columns, leaving empty ones at zero', () => {
    expect(normaliseRows(m)).toEqual([
      [0.5, 0.5, 0],
      [0, 1, 0],
    ]);
    expect(normaliseColumns(m)).toEqual([
      [1, 0.25, 0],
      [0, 0.75, 0],
    ]);
  });
  it('scales co-activation by the larger diagonal', () => {
    expect(normaliseCoactivation([
      [4, 2],
      [2, 8],
    ])).toEqual([
      [1, 0.25],
      [0.25, 1],
    ]);
  });
});
