/**
 * Passes over the subnet graph (issue 10; STYLE.md rule 11: one subnet format, evaluation, compression and
 * export are passes over it). Two kinds:
 * - `GraphPass`: graph → graph (a compression method at one level, a rewrite such as folding). It gets the
 *   graph and a context (calibration inputs, abort signal) and returns the rewritten graph with an optional
 *   report; it never sees the supernet, so a pass is testable on a hand-built graph.
 * - `GraphWriter`: graph → files (an export format). It writes under a folder and returns the files plus a
 *   `run` that loads what it wrote and computes logits, so every writer is checked the same way against the
 *   graph's reference evaluation (./evaluate.ts).
 * A compression method is one module with its pass (core/compress/registry.ts, `compressionPass`); a writer
 * is one entry of core/export/writers.ts.
 */
import type * as tf from '@tensorflow/tfjs';
import type { SubnetGraph } from './ops.js';

export interface PassContext {
  /** Calibration inputs [n, ...inputShape] (validation samples), for passes that calibrate. */
  calibX?: tf.Tensor;
  signal?: AbortSignal;
}

export interface GraphPass<R = unknown> {
  name: string;
  run(graph: SubnetGraph, ctx: PassContext): Promise<{ graph: SubnetGraph; report?: R }>;
}

/** What a writer records beside the weights (model card fields, ONNX metadata). */
export interface WriterMeta {
  /** One-line description of the subnet. */
  description: string;
  metadata: Record<string, string>;
}

export interface WrittenModel {
  files: string[];
  /** Logits of the written model for a batch, as a user loading the files gets them. */
  run(x: tf.Tensor): Promise<Float32Array>;
}

export interface GraphWriter {
  format: string;
  /** Writes the graph under `dir`; throws `UnsupportedGraphError` when the format cannot express it. */
  write(graph: SubnetGraph, dir: string, meta: WriterMeta): Promise<WrittenModel>;
}

/** A format that cannot express a graph (e.g. a batch-dependent op in a LayersModel): skipped with this reason. */
export class UnsupportedGraphError extends Error {}

/** Run passes in order, each on the previous one's graph; the reports in pass order. */
export async function runPasses(graph: SubnetGraph, passes: readonly GraphPass[], ctx: PassContext = {}): Promise<{ graph: SubnetGraph; reports: { pass: string; report: unknown }[] }> {
  const reports: { pass: string; report: unknown }[] = [];
  let g = graph;
  for (const p of passes) {
    ctx.signal?.throwIfAborted();
    const out = await p.run(g, ctx);
    g = out.graph;
    reports.push({ pass: p.name, report: out.report });
  }
  return { graph: g, reports };
}
