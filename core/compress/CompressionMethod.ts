/**
 * The compression-pass contract (issue 15; STYLE.md rule 9 and 11): a method is one module exporting a
 * `CompressionMethod`, registered by name in ./registry.ts. The pass runner (./compressGraph.ts) walks a
 * subnet graph, calibrates each MoE op on validation inputs (the graph compressed so far, layer by layer,
 * as Wanda and GPTQ calibrate) and hands the method the op and its statistics; the method returns the
 * rewritten op. Methods never see tensors, the supernet or the data set: plain arrays in, a graph op out,
 * so every numerical core is testable on small arrays.
 *
 * Size bookkeeping: a method may annotate a dense layer it rewrites with `storage` (how many numbers and
 * bits it really needs: codes + steps for quantised kernels, factors for low-rank ones, non-zeros for
 * pruned ones), and may let several router slots share one `Ffn` object (a merged expert, stored once).
 * ./storage.ts reads both; the graph's `kernel` always holds the weights the layer computes with, so every
 * evaluator and writer runs a compressed graph unchanged.
 */
import type { MoEOp } from '../nn/graph/evaluate.js';
import type { CompressMethodName } from '../protocol/compressMethodNames.js';
import type { CompressLevel } from '../protocol/protocol.js';
import type { CompressedDense, WeightStorage } from '../nn/graph/quantize.js';

export type { CompressMethodName };

/** The knobs a method reads (each ignores the others): the protocol's schema (keep, bits, rank, sparsity, width). */
export type { CompressLevel };

/** One MoE op's statistics on the calibration (validation) inputs. */
export interface MoECalibration {
  /** Inputs of the op [n, dim]. */
  x: Float32Array;
  n: number;
  /** Router logits [n, S] (the op's router on x; gating residuals and recurrent routers are not replayed). */
  logits: Float64Array;
  /** [n, S] 0/1: the slots each token selects under the op's gating. */
  mask: Uint8Array;
  /** Fraction of tokens selecting each slot. */
  usage: Float64Array;
}

/** Storage annotations (core/nn/graph/quantize.ts: the blocks' `bits` choice writes them too). */
export type { CompressedDense, WeightStorage };

/** What a method reports about one MoE op (the views: similarity matrix, spectrum, bits per expert). */
export interface LayerReport {
  layer: string;
  expertsBefore: number;
  /** Distinct FFN experts after the pass. */
  expertsAfter: number;
  /** Slot groups that now share one expert (merging) or the slots kept (pruning). */
  groups?: number[][];
  /** Bits per slot's expert (quantisation). */
  bitsPerExpert?: (number | null)[];
  /** Expert similarity matrix the grouping used ([S][S], slots order). */
  similarity?: number[][];
  /** Singular values of a decomposition (Sub-MoE, MC-SMoE's low-rank step), largest first. */
  spectrum?: number[];
}

export interface CompressionMethod {
  name: CompressMethodName;
  /** One line for the CLI help and the panel. */
  summary: string;
  /** Paper and reference the mechanism follows. */
  reference: string;
  /** The default sweep (least to most aggressive) the CLI and panel run for an accuracy-vs-size curve. */
  levels: readonly CompressLevel[];
  compressMoE(op: MoEOp, calib: MoECalibration, level: CompressLevel): { op: MoEOp; report: LayerReport };
}

/** The FFN-expert slots of an op. */
export function expertSlots(op: MoEOp): number[] {
  return op.slots.flatMap((s, i) => (s.kind === 'expert' ? [i] : []));
}

/** How many experts a `keep` fraction leaves of `count` (at least one). */
export function keptCount(count: number, keep: number | undefined): number {
  const k = keep ?? 0.5;
  if (!(k > 0 && k <= 1)) throw new Error(`level.keep must be in (0, 1], got ${k}`);
  return Math.max(1, Math.min(count, Math.round(k * count)));
}

/** A rank fraction of a full rank (at least one). */
export function keptRank(full: number, rank: number | undefined): number {
  const r = rank ?? 0.5;
  if (!(r > 0 && r <= 1)) throw new Error(`level.rank must be in (0, 1], got ${r}`);
  return Math.max(1, Math.min(full, Math.round(r * full)));
}
