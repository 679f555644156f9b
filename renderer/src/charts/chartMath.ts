/** Pure pieces of the line chart: the x and y domains, log-y, and the point nearest the cursor. */
import { bisector, scaleLinear, scaleLog, type ScaleContinuousNumeric } from 'd3';
import { paddedExtent } from './scales.js';

/**
 * The x domain of the data. A single point (the first batch of a run) gets a span of one unit around
 * it rather than a zero-width domain, whose ticks d3 would print with 17 significant digits.
 */
export function xDomain(xs: readonly number[]): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (const x of xs) {
    if (!Number.isFinite(x)) continue;
    if (x < lo) lo = x;
    if (x > hi) hi = x;
  }
  if (lo === Infinity) return [0, 1];
  if (hi - lo < 1e-9 * Math.max(1, Math.abs(lo))) return [lo - 0.5, hi + 0.5];
  return [lo, hi];
}

/**
 * The y scale: linear (padded, nice) or log. Log needs positive values: without any, it falls back to
 * linear and says so (`log: false`), so the toggle never draws an empty chart.
 */
export function yScale(
  ys: readonly number[],
  range: [number, number],
  opts: { log?: boolean; domain?: [number, number] } = {},
): { scale: ScaleContinuousNumeric<number, number>; log: boolean } {
  if (opts.log) {
    const pos = ys.filter((v) => v > 0 && Number.isFinite(v));
    if (pos.length) {
      let lo = Math.min(...pos);
      let hi = Math.max(...pos);
      if (hi / lo < 1.0001) {
        lo /= 2;
        hi *= 2;
      }
      return { scale: scaleLog().domain([lo, hi]).range(range).nice().clamp(true), log: true };
    }
  }
  return { scale: scaleLinear().domain(opts.domain ?? paddedExtent(ys)).range(range).nice(), log: false };
}

const byX = bisector<readonly [number, number], number>((p) => p[0]);

/** The point of an x-sorted series nearest to x (null for an empty series). */
export function nearestPoint(points: ReadonlyArray<readonly [number, number]>, x: number): readonly [number, number] | null {
  if (!points.length) return null;
  const i = byX.center(points, x);
  return points[Math.max(0, Math.min(points.length - 1, i))] ?? null;
}

/** Points inside [lo, hi] plus one either side, so a zoomed line runs to the plot's edges. */
export function visiblePoints<T extends readonly [number, number]>(points: readonly T[], lo: number, hi: number): T[] {
  if (!points.length) return [];
  const a = Math.max(0, byX.left(points, lo) - 1);
  const b = Math.min(points.length, byX.right(points, hi) + 1);
  return points.slice(a, b);
}
