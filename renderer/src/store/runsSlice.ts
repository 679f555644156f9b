import type { StateCreator } from 'zustand';
import type { BackendChoice, DatasetConfig, RunRecord, RunSummary, Strategy } from '../../../core/protocol/protocol.js';
import type { WorkbenchState } from './store.js';

/** The dataset as the launcher edits it; the core fills missing fields with defaults on train.start. */
export type DatasetForm = { kind: DatasetConfig['kind'] } & Record<string, string | number | boolean>;

export interface LaunchForm {
  name: string;
  data: DatasetForm;
  steps: number;
  batchSize: number;
  learningRate: number;
  strategy: Strategy;
  backend: BackendChoice;
  evalEvery: number;
}

export const DEFAULT_DATASETS: Record<DatasetConfig['kind'], DatasetForm> = {
  spirals: { kind: 'spirals', classes: 4, samples: 4000, noise: 0.2, seed: 1 },
  gaussians: { kind: 'gaussians', classes: 6, samples: 4000, spread: 0.6, seed: 1 },
  'fashion-mnist': { kind: 'fashion-mnist', dir: '/usr/share/datasets/fashion-mnist', limit: 10000, flatten: true },
  text: { kind: 'text', dir: '/usr/share/games/fortunes', seqLen: 64, maxChars: 0, seed: 1 },
  'sequence-tasks': { kind: 'sequence-tasks', length: 8, symbols: 10, samples: 6000, seed: 1 },
};

export interface RunsSlice {
  runs: RunSummary[];
  activeRunId: string | null;
  activeRecord: RunRecord | null;
  launch: LaunchForm;
  setRuns(runs: RunSummary[]): void;
  upsertRun(s: RunSummary): void;
  setActiveRun(id: string | null, record: RunRecord | null): void;
  setLaunch(patch: Partial<LaunchForm>): void;
}

/** Newest first, by creation time. */
export function sortRuns(runs: RunSummary[]): RunSummary[] {
  return [...runs].sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : 0));
}

export const createRunsSlice: StateCreator<WorkbenchState, [], [], RunsSlice> = (set) => ({
  runs: [],
  activeRunId: null,
  activeRecord: null,
  launch: {
    name: '',
    data: DEFAULT_DATASETS.spirals,
    steps: 400,
    batchSize: 64,
    learningRate: 0.01,
    strategy: 'spos',
    backend: 'auto',
    evalEvery: 25,
  },
  setRuns: (runs) => set({ runs: sortRuns(runs) }),
  upsertRun: (s) =>
    set((st) => {
      const i = st.runs.findIndex((r) => r.id === s.id);
      const runs = i < 0 ? sortRuns([...st.runs, s]) : st.runs.map((r) => (r.id === s.id ? s : r));
      const activeRecord = st.activeRecord && st.activeRecord.summary.id === s.id ? { ...st.activeRecord, summary: s } : st.activeRecord;
      return { runs, activeRecord };
    }),
  setActiveRun: (activeRunId, activeRecord) => set({ activeRunId, activeRecord }),
  setLaunch: (patch) => set((st) => ({ launch: { ...st.launch, ...patch } })),
});
