/**
 * Geometry of the ranking-quality scatter (inherited-weight vs standalone accuracy, one point per
 * subnet, a bar over its seeds' spread): d3 computes scales and positions, React renders the SVG.
 * Both axes share one domain so the y = x diagonal is meaningful (points below it: the supernet's
 * weights score the subnet higher than training it alone does).
 */
import { scaleLinear, type ScaleLinear } from 'd3';
import type { RankReport } from '../../../core/protocol/protocol.js';
import { paddedExtent } from '../charts/scales.js';

export interface RankPoint {
  index: number;
  params: number;
  cx: number;
  cy: number;
  /** Vertical extent of the seeds' standalone accuracies (equal to cy with one seed). */
  yLo: number;
  yHi: number;
  inherited: number;
  standalone: number;
  seeds: number[];
}

export interface RankScatter {
  x: ScaleLinear<number, number>;
  y: ScaleLinear<number, number>;
  points: RankPoint[];
  /** The y = x line across the plot, in pixels. */
  diagonal: [[number, number], [number, number]];
}

export interface Box {
  width: number;
  height: number;
  margin: { l: number; r: number; t: number; b: number };
}

/** Subnets with at least one standalone score, placed in `box`. */
export function rankScatter(report: Pick<RankReport, 'subnets'>, box: Box): RankScatter {
  const done = report.subnets.map((s, index) => ({ s, index })).filter(({ s }) => s.standaloneMean !== null);
  const all = done.flatMap(({ s }) => [s.inherited.accuracy, ...s.standalone.map((x) => x.accuracy)]);
  const domain = paddedExtent(all, 0.08);
  const { l, r, t, b } = box.margin;
  const x = scaleLinear().domain(domain).range([l, box.width - r]).nice();
  const y = scaleLinear().domain(x.domain()).range([box.height - b, t]);
  const points = done.map(({ s, index }) => {
    const seeds = s.standalone.map((e) => e.accuracy);
    return {
      index,
      params: s.params,
      cx: x(s.inherited.accuracy),
      cy: y(s.standaloneMean!),
      yLo: y(Math.min(...seeds)),
      yHi: y(Math.max(...seeds)),
      inherited: s.inherited.accuracy,
      standalone: s.standaloneMean!,
      seeds,
    };
  });
  const [d0, d1] = x.domain() as [number, number];
  return { x, y, points, diagonal: [[x(d0), y(d0)], [x(d1), y(d1)]] };
}
