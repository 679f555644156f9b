import type { ExpertLoad, MetricPoint } from '../../../core/protocol/protocol.js';
import { decimate } from './scales.js';

export interface LayerSeries {
  layer: string;
  expertNames: string[];
  steps: number[];
  loads: number[][];
  dropped: [number, number][];
  entropy: [number, number][];
  meanActive: [number, number][];
  /** Expert diversity exp(H)/N, dead-expert fraction and load CV per point (runs that recorded them). */
  diversity: [number, number][];
  deadFraction: [number, number][];
  cv: [number, number][];
  /** Routing fluctuation at validation points (share of probe tokens whose top expert changed). */
  fluctuation: [number, number][];
  last: ExpertLoad;
  collapsed: boolean;
  /** Per heatmap column: whether the router had collapsed at that point. */
  collapseAt: boolean[];
}

/** A point's routing fluctuation, the mean over its MoE layers that report one (validation points only). */
export function meanFluctuation(p: MetricPoint): number | undefined {
  const f = (p.moe ?? []).flatMap((l) => (l.fluctuation === undefined ? [] : [l.fluctuation]));
  return f.length ? f.reduce((a, b) => a + b, 0) / f.length : undefined;
}

/** Per MoE layer, the router's history across the metric points (the order layers first appear). */
export function routerSeries(points: readonly MetricPoint[], maxColumns = 600): LayerSeries[] {
  const byLayer = new Map<string, LayerSeries>();
  for (const p of decimate(points.filter((q) => q.moe?.length), maxColumns)) {
    for (const l of p.moe!) {
      let s = byLayer.get(l.layer);
      if (!s) {
        s = { layer: l.layer, expertNames: l.expertNames, steps: [], loads: [], dropped: [], entropy: [], meanActive: [], diversity: [], deadFraction: [], cv: [], fluctuation: [], last: l, collapsed: false, collapseAt: [] };
        byLayer.set(l.layer, s);
      }
      s.steps.push(p.step);
      s.loads.push(l.load);
      s.dropped.push([p.step, l.dropped]);
      s.entropy.push([p.step, l.entropy]);
      s.meanActive.push([p.step, l.meanActive]);
      if (l.diversity !== undefined) s.diversity.push([p.step, l.diversity]);
      if (l.deadFraction !== undefined) s.deadFraction.push([p.step, l.deadFraction]);
      if (l.cv !== undefined) s.cv.push([p.step, l.cv]);
      s.collapseAt.push(l.collapse);
      s.last = l;
      s.expertNames = l.expertNames;
    }
  }
  // Fluctuation is reported at validation points only: read from every point (decimation could drop them).
  for (const p of points) for (const l of p.moe ?? []) if (l.fluctuation !== undefined) byLayer.get(l.layer)?.fluctuation.push([p.step, l.fluctuation]);
  for (const s of byLayer.values()) s.collapsed = s.last.collapse;
  return [...byLayer.values()];
}

