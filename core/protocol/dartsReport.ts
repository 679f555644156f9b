/**
 * DARTS's architecture weights and perturbation scores in MetricPoint.strategy, and back: the strategy
 * (core/train/strategies/darts.ts) encodes, the run view (renderer/src/views/DartsPanel.tsx) decodes. Keys
 * carry a "/" so the generic strategy charts skip them.
 *
 *   darts/edges        [count]
 *   darts/edge<i>      [position, n, softmax(α) × n, decided (0 | 1), step, base accuracy,
 *                       accuracy with each choice removed × n, chosen]   (the last n + 3 only when decided)
 */
export interface DartsEdgeView {
  position: number;
  /** softmax(α) of the position's choices. */
  weights: number[];
  /** The perturbation-based decision, once made. */
  selection: { step: number; base: number; without: number[]; chosen: number } | null;
}

export const DARTS_REPORT_PREFIX = 'darts/';

export function encodeDartsEdges(edges: readonly DartsEdgeView[]): Record<string, number[]> {
  const out: Record<string, number[]> = { [`${DARTS_REPORT_PREFIX}edges`]: [edges.length] };
  edges.forEach((e, i) => {
    const s = e.selection;
    out[`${DARTS_REPORT_PREFIX}edge${i}`] = [e.position, e.weights.length, ...e.weights, s ? 1 : 0, ...(s ? [s.step, s.base, ...s.without, s.chosen] : [])];
  });
  return out;
}

export function decodeDartsEdges(report: Readonly<Record<string, number | number[]>> | undefined): DartsEdgeView[] | null {
  const count = report?.[`${DARTS_REPORT_PREFIX}edges`];
  if (!report || !Array.isArray(count)) return null;
  const out: DartsEdgeView[] = [];
  for (let i = 0; i < (count[0] ?? 0); i++) {
    const v = report[`${DARTS_REPORT_PREFIX}edge${i}`];
    if (!Array.isArray(v) || v.length < 3) return null;
    const n = v[1]!;
    const weights = v.slice(2, 2 + n);
    const decided = v[2 + n] === 1;
    const rest = v.slice(3 + n);
    out.push({
      position: v[0]!,
      weights,
      selection: decided ? { step: rest[0]!, base: rest[1]!, without: rest.slice(2, 2 + n), chosen: rest[2 + n]! } : null,
    });
  }
  return out;
}

/** Perturbation importance of each choice: how much validation accuracy falls when it is removed. */
export const removalImportance = (s: NonNullable<DartsEdgeView['selection']>): number[] => s.without.map((w) => s.base - w);
