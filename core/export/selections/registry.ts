/**
 * The selection-op writers by mode (./selection.ts): the one place a new selection op's writer is
 * registered. The mapped type makes a Gating mode without a writer a compile error.
 */
import type { Gating } from '../../nn/graph/ops.js';
import { expertChoice } from './expertChoice.js';
import type { SelectionWriter } from './selection.js';
import { topk } from './topk.js';
import { topp } from './topp.js';

export const selectionWriters: { [M in Gating['mode']]: SelectionWriter<M> } = {
  topk,
  topp,
  'expert-choice': expertChoice,
};

export type { SelectionWriter };

/** The writer of a graph's selection op. */
export function selectionWriterOf(g: Gating): SelectionWriter {
  return selectionWriters[g.mode] as unknown as SelectionWriter;
}
