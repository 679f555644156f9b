import type { StateCreator } from 'zustand';
import type { MetricPoint } from '../../../core/protocol/protocol.js';
import type { RunColumn } from '../runs/runTable.js';
import { mergeMetrics } from './liveSlice.js';
import type { WorkbenchState } from './store.js';

/** The run table and the overlay of several runs' curves. */
export interface CompareSlice {
  /** Runs ticked for the overlay, in the order they were ticked. */
  compareIds: string[];
  /** Their (strided) histories, kept current from the metric stream. */
  compareCurves: Record<string, MetricPoint[]>;
  runFilter: string;
  runSort: { col: RunColumn; dir: 'asc' | 'desc' };
  toggleCompare(runId: string, on?: boolean): void;
  setCompareCurve(runId: string, points: MetricPoint[]): void;
  appendCompareMetrics(runId: string, points: MetricPoint[]): void;
  setRunFilter(p: string): void;
  setRunSort(col: RunColumn): void;
  /** A run is gone: out of the list, the overlay and the dashboard. */
  removeRun(runId: string): void;
}

export const createCompareSlice: StateCreator<WorkbenchState, [], [], CompareSlice> = (set) => ({
  compareIds: [],
  compareCurves: {},
  runFilter: '',
  runSort: { col: 'createdAt', dir: 'desc' },
  toggleCompare: (runId, on) =>
    set((s) => {
      const has = s.compareIds.includes(runId);
      const want = on ?? !has;
      if (want === has) return s;
      return { compareIds: want ? [...s.compareIds, runId] : s.compareIds.filter((x) => x !== runId) };
    }),
  setCompareCurve: (runId, points) => set((s) => ({ compareCurves: { ...s.compareCurves, [runId]: points } })),
  appendCompareMetrics: (runId, points) =>
    set((s) => (s.compareCurves[runId] ? { compareCurves: { ...s.compareCurves, [runId]: mergeMetrics(s.compareCurves[runId]!, points) } } : s)),
  setRunFilter: (runFilter) => set({ runFilter }),
  setRunSort: (col) =>
    set((s) => ({ runSort: { col, dir: s.runSort.col === col && s.runSort.dir === 'desc' ? 'asc' : 'desc' } })),
  removeRun: (runId) =>
    set((s) => {
      const { [runId]: _gone, ...curves } = s.compareCurves;
      const shown = s.activeRunId === runId;
      return {
        runs: s.runs.filter((r) => r.id !== runId),
        compareIds: s.compareIds.filter((x) => x !== runId),
        compareCurves: curves,
        ...(shown ? { activeRunId: null, activeRecord: null } : {}),
      };
    }),
});
