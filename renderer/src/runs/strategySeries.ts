/**
 * The training strategy's own numbers over time (MetricPoint.strategy, at validation points), as chart
 * series: a vector (PA&DA's sampling distribution of one arch position) becomes one line per entry, a
 * scalar (OFA's phase, PA&DA's data effective sample size) one line. Keys in the order they first appear.
 */
import type { MetricPoint } from '../../../core/protocol/protocol.js';

export interface StrategyChart {
  key: string;
  /** The key without its group prefix ("sampling:b.b0.width" → "b.b0.width"). */
  title: string;
  group: string;
  /** One line per vector entry (label "0", "1", …) or a single line (label = title). */
  lines: { label: string; points: [number, number][] }[];
}

export function strategyCharts(points: readonly MetricPoint[], x: (p: MetricPoint) => number = (p) => p.step): StrategyChart[] {
  const charts = new Map<string, StrategyChart>();
  for (const p of points) {
    if (!p.strategy) continue;
    for (const [key, value] of Object.entries(p.strategy)) {
      // Keys with a "/" are structured data for a strategy's own view (few-shot's splits), not series.
      if (key.includes('/')) continue;
      let c = charts.get(key);
      if (!c) {
        const colon = key.indexOf(':');
        c = { key, group: colon > 0 ? key.slice(0, colon) : '', title: colon > 0 ? key.slice(colon + 1) : key, lines: [] };
        charts.set(key, c);
      }
      const values = Array.isArray(value) ? value : [value];
      values.forEach((v, i) => {
        if (!c.lines[i]) c.lines[i] = { label: Array.isArray(value) ? String(i) : c.title, points: [] };
        if (Number.isFinite(v)) c.lines[i]!.points.push([x(p), v]);
      });
    }
  }
  return [...charts.values()];
}
