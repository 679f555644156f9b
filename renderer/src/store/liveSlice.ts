import type { StateCreator } from 'zustand';
import type { MetricPoint, Specialization } from '../../../core/protocol/protocol.js';
import type { WorkbenchState } from './store.js';

/** Cap on kept points: beyond it, older history is thinned to every other point. */
export const MAX_POINTS = 20000;

export interface LogLine {
  level: 'info' | 'warn' | 'error';
  message: string;
}

export interface LiveSlice {
  /** The run whose metrics these are. */
  liveRunId: string | null;
  metrics: MetricPoint[];
  specialization: Specialization | null;
  logs: LogLine[];
  resetLive(runId: string | null, metrics: MetricPoint[], specialization: Specialization | null): void;
  appendMetrics(runId: string, points: MetricPoint[]): void;
  setSpecialization(runId: string, s: Specialization): void;
  appendLog(runId: string, line: LogLine): void;
}

/**
 * Append a metrics batch: points at or before the last known step are replaced (a resumed run re-sends
 * from its checkpoint), and the series is thinned once it grows past MAX_POINTS.
 */
export function mergeMetrics(prev: readonly MetricPoint[], batch: readonly MetricPoint[]): MetricPoint[] {
  if (batch.length === 0) return prev as MetricPoint[];
  const first = batch[0]!.step;
  let keep = prev.length;
  while (keep > 0 && prev[keep - 1]!.step >= first) keep--;
  let out = keep === prev.length ? prev.concat(batch) : prev.slice(0, keep).concat(batch);
  if (out.length > MAX_POINTS) {
    const half = out.length >> 1;
    out = out.slice(0, half).filter((_, i) => i % 2 === 0).concat(out.slice(half));
  }
  return out;
}

export const createLiveSlice: StateCreator<WorkbenchState, [], [], LiveSlice> = (set, get) => ({
  liveRunId: null,
  metrics: [],
  specialization: null,
  logs: [],
  resetLive: (liveRunId, metrics, specialization) => set({ liveRunId, metrics, specialization, logs: [] }),
  appendMetrics(runId, points) {
    if (get().liveRunId !== runId) return;
    set((s) => ({ metrics: mergeMetrics(s.metrics, points) }));
  },
  setSpecialization(runId, specialization) {
    if (get().liveRunId === runId) set({ specialization });
  },
  appendLog(runId, line) {
    if (get().liveRunId === runId) set((s) => ({ logs: [...s.logs.slice(-199), line] }));
  },
});
