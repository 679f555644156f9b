/**
 * Geometry of the Compress panel's accuracy-vs-size view: one curve per compression method over the
 * points of a `compress.run` result (x = stored size in KiB, log scale; y = validation accuracy with its
 * 95 % interval), the uncompressed subnet as the reference point. d3 computes, React renders.
 */
import { scaleLinear, scaleLog, type ScaleContinuousNumeric } from 'd3';
import type { CompressPoint, CompressResult, Objective } from '../../../core/protocol/protocol.js';
import { paddedExtent } from '../charts/scales.js';
import type { Box } from './rankScatter.js';

export interface CurvePoint {
  /** Index into result.points. */
  index: number;
  cx: number;
  cy: number;
  yLo: number;
  yHi: number;
  kib: number;
  accuracy: number;
  point: CompressPoint;
}

export interface CompressCurve {
  x: ScaleContinuousNumeric<number, number>;
  y: ScaleContinuousNumeric<number, number>;
  /** Per method (null: uncompressed), points in increasing size. */
  series: { method: CompressPoint['method']; points: CurvePoint[] }[];
}

export const kibOf = (p: Pick<CompressPoint, 'bits'>) => p.bits / 8192;
export const valAccuracy = (p: CompressPoint) => p.accuracy.find((a) => a.split === 'val') ?? p.accuracy[0];

export function compressCurve(result: Pick<CompressResult, 'points'>, box: Box): CompressCurve {
  const { l, r, t, b } = box.margin;
  const pts = result.points.map((point, index) => ({ point, index, kib: kibOf(point), acc: valAccuracy(point) })).filter((p) => p.acc && p.kib > 0);
  const kibs = pts.map((p) => p.kib);
  const [k0, k1] = kibs.length ? [Math.min(...kibs), Math.max(...kibs)] : [1, 2];
  const x = scaleLog()
    .domain([k0 / 1.15, k1 * 1.15])
    .range([l, box.width - r]);
  const y = scaleLinear()
    .domain(paddedExtent(pts.flatMap((p) => [p.acc!.ci95[0], p.acc!.ci95[1]]), 0.05))
    .range([box.height - b, t])
    .nice();
  const byMethod = new Map<CompressPoint['method'], CurvePoint[]>();
  for (const p of pts) {
    const list = byMethod.get(p.point.method) ?? [];
    list.push({ index: p.index, cx: x(p.kib), cy: y(p.acc!.accuracy), yLo: y(p.acc!.ci95[0]), yHi: y(p.acc!.ci95[1]), kib: p.kib, accuracy: p.acc!.accuracy, point: p.point });
    byMethod.set(p.point.method, list);
  }
  return { x, y, series: [...byMethod].map(([method, points]) => ({ method, points: points.sort((a, c) => a.kib - c.kib) })) };
}

/** Fraction of the spectrum's energy (Σσ²) the first `rank` singular values keep. */
export function retainedEnergy(spectrum: readonly number[], rank: number): number {
  const total = spectrum.reduce((s, v) => s + v * v, 0);
  if (total === 0) return 1;
  return spectrum.slice(0, rank).reduce((s, v) => s + v * v, 0) / total;
}

/** A compressed model's value on a search objective (null where it has none: FLOPs, an unmeasured latency). */
export function compressedObjective(p: CompressPoint, o: Objective): number | null {
  switch (o) {
    case 'accuracy':
      return valAccuracy(p)?.accuracy ?? null;
    case 'latency':
      return p.latencyMs;
    case 'params':
      return p.params;
    case 'flops':
      return null;
    case 'bits':
      return p.bits;
  }
}
