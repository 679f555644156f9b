/**
 * Side-by-side comparison of a run's searches. Hypervolumes compare only between searches scored in
 * one normalised box: the same objectives and the run's one scale (core/search/runScale.ts). Searches
 * of other objectives are listed but not overlaid.
 */
import type { EvaluatedSubnet, Objective, SearchSummary } from '../../../core/protocol/protocol.js';

/** One colour per search, in list order (then repeating). */
export const SEARCH_COLORS = ['var(--series-1)', 'var(--series-2)', 'var(--series-3)', 'var(--series-4)', '#9467bd', '#8c564b', '#17becf', '#bcbd22'];

export function sameObjectives(a: readonly Objective[], b: readonly Objective[]): boolean {
  return a.length === b.length && a.every((o, i) => o === b[i]);
}

/** Two searches' hypervolumes are on one scale when objectives and normalisation divisors agree. */
export function sameScale(a: SearchSummary, b: SearchSummary): boolean {
  if (!sameObjectives(a.config.objectives, b.config.objectives)) return false;
  // Searches from before run-level scales carry none: each used its own timing, not comparable.
  if (!a.hvScale || !b.hvScale) return a.id === b.id;
  return a.config.objectives.every((o) => o === 'accuracy' || a.hvScale!.scales[o] === b.hvScale!.scales[o]);
}

export interface SearchRow {
  id: string;
  color: string;
  strategy: string;
  objectives: string;
  status: string;
  evaluated: number;
  front: number;
  /** Hypervolume after the last generation, or null before the first. */
  hypervolume: number | null;
  /** The front's most accurate subnet (its accuracy carries split, n and interval where recorded). */
  best: EvaluatedSubnet | null;
  /** On the same hypervolume scale as the reference search. */
  comparable: boolean;
}

export function frontMembers(s: Pick<SearchSummary, 'evaluated' | 'front'>): EvaluatedSubnet[] {
  const ids = new Set(s.front);
  return s.evaluated.filter((r) => ids.has(r.id));
}

/** Table rows, one per search; `reference` decides which ones are on its hypervolume scale. */
export function searchRows(searches: readonly SearchSummary[], reference: SearchSummary | null): SearchRow[] {
  return searches.map((s, i) => {
    const best = frontMembers(s).sort((a, b) => b.accuracy - a.accuracy)[0];
    return {
      id: s.id,
      color: SEARCH_COLORS[i % SEARCH_COLORS.length]!,
      strategy: s.config.strategy,
      objectives: s.config.objectives.join(' · '),
      status: s.status,
      evaluated: s.evaluated.length,
      front: s.front.length,
      hypervolume: s.hypervolume.at(-1)?.value ?? null,
      best: best ?? null,
      comparable: reference ? sameScale(s, reference) : false,
    };
  });
}
