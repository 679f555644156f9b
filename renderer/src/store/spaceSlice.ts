import type { StateCreator } from 'zustand';
import type { MethodResult, ValidationIssue } from '../../../core/protocol/protocol.js';
import { newSpace, normaliseIssuePath, type SpaceDoc } from '../space/spaceEdits.js';
import { commit, createUndoStack, redo, undo, type UndoStack } from '../space/UndoStack.js';
import type { WorkbenchState } from './store.js';

export interface SpaceValidation {
  ok: boolean;
  issues: ValidationIssue[];
  cardinality: number | null;
  params: number | null;
  /** The document revision this verdict is about (stale verdicts are not shown as current). */
  revision: number;
}

export type SpaceExample = MethodResult<'space.examples'>[number];

export interface SpaceSlice {
  history: UndoStack<SpaceDoc>;
  /** Bumped on every change of the present document. */
  revision: number;
  selectedStage: number;
  validation: SpaceValidation | null;
  examples: SpaceExample[];
  editSpace(fn: (doc: SpaceDoc) => SpaceDoc, key?: string): void;
  /** Replace the whole document (example, opened file); undoable. */
  loadSpace(doc: SpaceDoc): void;
  /** End the current coalesced edit (a field lost focus): the next edit is its own undo step. */
  sealEdit(): void;
  undoSpace(): void;
  redoSpace(): void;
  selectStage(i: number): void;
  setValidation(v: MethodResult<'space.validate'>, revision: number): void;
  setExamples(e: SpaceExample[]): void;
}

export const createSpaceSlice: StateCreator<WorkbenchState, [], [], SpaceSlice> = (set, get) => {
  const apply = (history: UndoStack<SpaceDoc>) => {
    if (history === get().history) return;
    const n = history.present.stages.length;
    set((s) => ({
      history,
      revision: s.revision + 1,
      selectedStage: Math.max(0, Math.min(s.selectedStage, n - 1)),
    }));
  };
  return {
    history: createUndoStack(newSpace()),
    revision: 0,
    selectedStage: 0,
    validation: null,
    examples: [],
    editSpace(fn, key) {
      const h = get().history;
      apply(commit(h, fn(h.present), { key }));
    },
    loadSpace(doc) {
      apply(commit(get().history, doc));
      set({ selectedStage: 0 });
    },
    sealEdit: () => set((s) => (s.history.lastKey === null ? s : { history: { ...s.history, lastKey: null } })),
    undoSpace: () => apply(undo(get().history)),
    redoSpace: () => apply(redo(get().history)),
    selectStage: (i) => set({ selectedStage: i }),
    setValidation(v, revision) {
      set({
        validation: {
          ...v,
          issues: v.issues.map((i) => ({ ...i, path: normaliseIssuePath(i.path) })),
          revision,
        },
      });
    },
    setExamples: (examples) => set({ examples }),
  };
};
