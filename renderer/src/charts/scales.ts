/** Scale helpers shared by the charts: d3 computes, React renders. */
import { scaleLinear, scaleLog, type ScaleContinuousNumeric } from 'd3';

/** [min, max] of the finite values, padded by `pad` of the span; a flat or empty series gets a unit span. */
export function paddedExtent(values: Iterable<number>, pad = 0.05): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (!Number.isFinite(v)) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (lo === Infinity) return [0, 1];
  if (lo === hi) return [lo - 0.5, hi + 0.5];
  const p = (hi - lo) * pad;
  return [lo - p, hi + p];
}

/**
 * At most `max` items, evenly strided, always keeping the last one (the live edge of a curve). Keeps
 * long runs cheap to draw without hiding where the run is now.
 */
export function decimate<T>(items: readonly T[], max: number): T[] {
  if (items.length <= max || max < 2) return [...items];
  const stride = (items.length - 1) / (max - 1);
  const out: T[] = [];
  for (let i = 0; i < max; i++) out.push(items[Math.round(i * stride)]!);
  return out;
}

export interface AxisOptions {
  log?: boolean;
  flip?: boolean;
}

/**
 * A scale for one axis of a parallel-coordinates or scatter plot. Log scales need positive values, so
 * the domain is clamped to the smallest positive value; `flip` reverses the direction.
 */
export function axisScale(values: readonly number[], range: [number, number], opts: AxisOptions = {}): ScaleContinuousNumeric<number, number> {
  const r: [number, number] = opts.flip ? [range[1], range[0]] : range;
  if (opts.log) {
    const pos = values.filter((v) => v > 0 && Number.isFinite(v));
    let lo = pos.length ? Math.min(...pos) : 1;
    let hi = pos.length ? Math.max(...pos) : 10;
    if (lo === hi) {
      lo /= 2;
      hi *= 2;
    }
    return scaleLog().domain([lo, hi]).range(r).clamp(true);
  }
  return scaleLinear().domain(paddedExtent(values, 0.02)).range(r).nice();
}

/** Seconds → `1h 02m`, `3m 05s`, `12s`. */
export function formatDuration(sec: number): string {
  if (!Number.isFinite(sec) || sec < 0) return '—';
  const s = Math.round(sec);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** Compact counts: 1234 → 1.23k, 4.5e6 → 4.5M. */
export function formatCount(n: number): string {
  if (!Number.isFinite(n)) return '—';
  const a = Math.abs(n);
  if (a >= 1e9) return `${+(n / 1e9).toPrecision(3)}G`;
  if (a >= 1e6) return `${+(n / 1e6).toPrecision(3)}M`;
  if (a >= 1e3) return `${+(n / 1e3).toPrecision(3)}k`;
  return `${+n.toPrecision(3)}`;
}

/**
 * Exponential moving average of a series (TensorBoard-style smoothing, debiased so the first points
 * are not pulled towards zero). `weight` 0 returns the series unchanged.
 */
export function smoothSeries(points: ReadonlyArray<readonly [number, number]>, weight: number): [number, number][] {
  const out: [number, number][] = [];
  let acc = 0;
  let n = 0;
  for (const [x, y] of points) {
    if (!Number.isFinite(y)) continue;
    acc = acc * weight + (1 - weight) * y;
    n++;
    out.push([x, weight > 0 ? acc / (1 - weight ** n) : y]);
  }
  return out;
}
