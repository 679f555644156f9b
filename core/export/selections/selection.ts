/**
 * The selection-op writer contract: how each of the subnet graph's selection ops (core/nn/graph/ops.ts
 * Gating: top-k, top-p, expert choice) becomes a [T, S] 0/1 mask in each export format. One module per
 * op (./topk.ts, ./topp.ts, ./expertChoice.ts), registered by mode in ./registry.ts, so the writers
 * (../tfjsExport.ts, ../onnxExport.ts) never switch on the mode and a router with a new selection op adds
 * its writer as one module plus a registry line. The reference arithmetic is core/nn/routers/selection.ts.
 */
import type { Gating } from '../../nn/graph/ops.js';
import type { GraphBuilder } from '../onnxBuilder.js';
import type { Builder, SymbolicTensor } from '../tfjsBuilder.js';

export type GatingOf<M extends Gating['mode']> = Extract<Gating, { mode: M }>;

export interface SelectionWriter<M extends Gating['mode'] = Gating['mode']> {
  mode: M;
  /**
   * The mask in a tfjs LayersModel (built-in per-sample layers only) from the probabilities [T, S], S ≥ 2;
   * absent where a LayersModel cannot express the op, `tfjsUnsupported` saying why.
   */
  tfjs?(b: Builder, probs: SymbolicTensor, gating: GatingOf<M>, slots: number, name: string): SymbolicTensor;
  tfjsUnsupported?: string;
  /** The mask in an ONNX graph from the probabilities [T, S] (the batch axis is visible here). */
  onnx(g: GraphBuilder, probs: string, gating: GatingOf<M>, slots: number, name: string): string;
}
