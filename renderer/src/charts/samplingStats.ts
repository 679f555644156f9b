import type { MetricPoint } from '../../../core/protocol/protocol.js';
import { decimate } from './scales.js';

export interface SamplingStats {
  dims: number;
  /** Column-major, each dimension scaled to [0, 1] by its own max. */
  columns: number[][];
  /** Per dimension: value → how many steps chose it. */
  counts: Map<number, number>[];
  steps: number;
}

/**
 * Which subnet each step trained (archVector over time) and how often each choice came up. `isActive`
 * (from the run's space) leaves out positions a step did not train, e.g. blocks beyond its depth.
 */
export function samplingStats(
  points: readonly MetricPoint[],
  maxColumns = 600,
  isActive?: (vec: readonly number[]) => readonly boolean[],
): SamplingStats | null {
  const withArch = points.filter((p) => p.archVector?.length);
  if (!withArch.length) return null;
  const dims = Math.max(...withArch.map((p) => p.archVector!.length));
  const counts = Array.from({ length: dims }, () => new Map<number, number>());
  const max = new Array<number>(dims).fill(0);
  for (const p of withArch) {
    const active = isActive?.(p.archVector!);
    p.archVector!.forEach((v, d) => {
      if (active && !active[d]) return;
      counts[d]!.set(v, (counts[d]!.get(v) ?? 0) + 1);
      if (v > max[d]!) max[d] = v;
    });
  }
  const columns = decimate(withArch, maxColumns).map((p) => Array.from({ length: dims }, (_, d) => (max[d]! > 0 ? (p.archVector![d] ?? 0) / max[d]! : 0)));
  return { dims, columns, counts, steps: withArch.length };
}

