import type { StateCreator } from 'zustand';
import type { EvaluatedSubnet, ExportResult, Objective, SearchSummary } from '../../../core/protocol/protocol.js';
import type { WorkbenchState } from './store.js';

export interface SearchForm {
  strategy: 'random' | 'nsga2' | 'evolution';
  objectives: Objective[];
  population: number;
  generations: number;
  evalSamples: number;
  /** Optional latency budget in ms (0 = none). */
  latencyBudget: number;
}

export interface SearchProgress {
  done: number;
  total: number;
  etaSec: number;
}

export interface SearchSlice {
  searchForm: SearchForm;
  searchId: string | null;
  searchProgress: SearchProgress | null;
  evaluated: EvaluatedSubnet[];
  searchSummary: SearchSummary | null;
  selectedSubnet: number | null;
  hoveredSubnet: number | null;
  exportResult: ExportResult | null;
  exporting: boolean;
  /** Every search of the active run (newest first), for side-by-side comparison. */
  runSearches: SearchSummary[];
  setRunSearches(list: SearchSummary[]): void;
  setSearchForm(patch: Partial<SearchForm>): void;
  beginSearch(id: string | null): void;
  setSearchProgress(p: SearchProgress): void;
  addEvaluated(s: EvaluatedSubnet[]): void;
  setSearchSummary(s: SearchSummary | null): void;
  selectSubnet(id: number | null): void;
  hoverSubnet(id: number | null): void;
  setExport(r: ExportResult | null, exporting: boolean): void;
}

/** Replace the search with the same id, or put a new one first (the list is newest first). */
export function upsertSearch(list: readonly SearchSummary[], s: SearchSummary): SearchSummary[] {
  const i = list.findIndex((x) => x.id === s.id);
  if (i < 0) return [s, ...list];
  const out = list.slice();
  out[i] = s;
  return out;
}

/** Merge by id: re-evaluations (new rank, feasibility) replace older records. */
export function mergeEvaluated(prev: readonly EvaluatedSubnet[], add: readonly EvaluatedSubnet[]): EvaluatedSubnet[] {
  const byId = new Map(prev.map((s) => [s.id, s]));
  for (const s of add) byId.set(s.id, s);
  return [...byId.values()].sort((a, b) => a.id - b.id);
}

export const createSearchSlice: StateCreator<WorkbenchState, [], [], SearchSlice> = (set) => ({
  searchForm: { strategy: 'nsga2', objectives: ['accuracy', 'latency'], population: 12, generations: 3, evalSamples: 5000, latencyBudget: 0 },
  searchId: null,
  searchProgress: null,
  evaluated: [],
  searchSummary: null,
  selectedSubnet: null,
  hoveredSubnet: null,
  exportResult: null,
  exporting: false,
  runSearches: [],
  setRunSearches: (runSearches) => set({ runSearches }),
  setSearchForm: (patch) => set((s) => ({ searchForm: { ...s.searchForm, ...patch } })),
  beginSearch: (searchId) =>
    set({ searchId, searchProgress: null, evaluated: [], searchSummary: null, selectedSubnet: null, exportResult: null }),
  setSearchProgress: (searchProgress) => set({ searchProgress }),
  addEvaluated: (s) => set((st) => ({ evaluated: mergeEvaluated(st.evaluated, s) })),
  setSearchSummary: (searchSummary) =>
    set((st) => ({
      searchSummary,
      evaluated: searchSummary ? mergeEvaluated(st.evaluated, searchSummary.evaluated) : st.evaluated,
      runSearches: searchSummary && st.runSearches.some((x) => x.runId === searchSummary.runId) ? upsertSearch(st.runSearches, searchSummary) : searchSummary ? [searchSummary] : st.runSearches,
    })),
  selectSubnet: (selectedSubnet) => set({ selectedSubnet, exportResult: null }),
  hoverSubnet: (hoveredSubnet) => set({ hoveredSubnet }),
  setExport: (exportResult, exporting) => set({ exportResult, exporting }),
});
