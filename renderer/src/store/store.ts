/**
 * The workbench's one bound store, built from typed slices (zustand's slices pattern). Components read
 * it through narrow selectors; high-rate series (metrics) are drawn by components that subscribe and
 * repaint at most once per animation frame.
 */
import { create } from 'zustand';
import { createCompareSlice, type CompareSlice } from './compareSlice.js';
import { createCompressSlice, type CompressSlice } from './compressSlice.js';
import { createLiveSlice, type LiveSlice } from './liveSlice.js';
import { createRunsSlice, type RunsSlice } from './runsSlice.js';
import { createSearchSlice, type SearchSlice } from './searchSlice.js';
import { createSpaceSlice, type SpaceSlice } from './spaceSlice.js';
import { createUiSlice, type UiSlice } from './uiSlice.js';

export type WorkbenchState = UiSlice & SpaceSlice & RunsSlice & LiveSlice & SearchSlice & CompareSlice & CompressSlice;

export const createWorkbenchStore = () =>
  create<WorkbenchState>()((...a) => ({
    ...createUiSlice(...a),
    ...createSpaceSlice(...a),
    ...createRunsSlice(...a),
    ...createLiveSlice(...a),
    ...createSearchSlice(...a),
    ...createCompareSlice(...a),
    ...createCompressSlice(...a),
  }));

export const useWorkbench = createWorkbenchStore();
