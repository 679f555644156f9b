/**
 * The pass runner: subnet graph → compressed subnet graph under one method at one level. MoE ops are
 * rewritten in evaluation order; each is calibrated on the outputs of the graph compressed so far (so a
 * layer sees the errors of the layers before it), from the calibration batch (validation samples).
 */
import type * as tf from '@tensorflow/tfjs';
import type { DenseWeights, MoEOp, SubnetGraph, SubnetOp } from '../nn/graph/evaluate.js';
import type { GraphPass } from '../nn/graph/passes.js';
import { calibrateMoE, runPrefix } from './calibrate.js';
import type { CompressionMethod, CompressLevel, LayerReport } from './CompressionMethod.js';

export interface CompressedGraph {
  graph: SubnetGraph;
  layers: LayerReport[];
}

export async function compressGraph(graph: SubnetGraph, method: CompressionMethod, level: CompressLevel, calibX: tf.Tensor): Promise<CompressedGraph> {
  const n = calibX.shape[0]!;
  const layers: LayerReport[] = [];
  const walk = async (ops: readonly SubnetOp[], before: readonly SubnetOp[]): Promise<SubnetOp[]> => {
    const out: SubnetOp[] = [];
    for (const o of ops) {
      if (o.op === 'moe') {
        const x = await runPrefix([...before, ...out], calibX);
        if (x.length !== n * o.dim) throw new Error(`calibration inputs of ${o.name} have ${x.length / n} features, expected ${o.dim}`);
        const { op, report } = method.compressMoE(o, calibrateMoE(o, x, n), level);
        layers.push(report);
        out.push(op);
      } else if (o.op === 'residual') {
        out.push({ ...o, body: await walk(o.body, [...before, ...out]) });
      } else out.push(o);
    }
    return out;
  };
  return { graph: { ...graph, ops: await walk(graph.ops, []) }, layers };
}

/** The columns `keep` of a dense layer (and its bias entries). */
function keepColumns(r: DenseWeights, keep: readonly number[]): DenseWeights {
  const S = r.outDim;
  const S2 = keep.length;
  const kernel = new Float32Array(r.inDim * S2);
  for (let i = 0; i < r.inDim; i++) keep.forEach((s, j) => (kernel[i * S2 + j] = r.kernel[i * S + s]!));
  return { kernel, bias: r.bias ? Float32Array.from(keep, (s) => r.bias![s]!) : null, inDim: r.inDim, outDim: S2 };
}

/**
 * A copy of `op` keeping only `keep` slots: router columns and bias entries (also those of Chain-of-Experts'
 * later passes), gating residual rows/columns, k clamped to the slots left.
 */
export function keepSlots(op: MoEOp, keep: readonly number[]): MoEOp {
  const S = op.slots.length;
  const S2 = keep.length;
  const iterations = op.iterations;
  let gateResidual = op.gateResidual ?? null;
  if (gateResidual) {
    const k = new Float32Array(S2 * S2);
    keep.forEach((a, i) => keep.forEach((b, j) => (k[i * S2 + j] = gateResidual!.kernel[a * S + b]!)));
    gateResidual = { kernel: k, bias: null, inDim: S2, outDim: S2 };
  }
  const gating = op.gating.mode === 'topk' ? { ...op.gating, k: Math.min(op.gating.k, S2) } : op.gating.mode === 'topp' ? { ...op.gating, maxK: Math.min(op.gating.maxK, S2) } : op.gating;
  return {
    ...op,
    router: keepColumns(op.router, keep),
    ...(iterations ? { iterations: iterations.map((r) => keepColumns(r, keep)) } : {}),
    slots: keep.map((s) => op.slots[s]!),
    gating,
    gateResidual,
  };
}

/** A method at one level as a graph → graph pass (core/nn/graph/passes.ts), calibrated on `ctx.calibX`. */
export function compressionPass(method: CompressionMethod, level: CompressLevel): GraphPass<LayerReport[]> {
  return {
    name: `${method.name}${JSON.stringify(level)}`,
    async run(graph, ctx) {
      if (!ctx.calibX) throw new Error(`${method.name}: a compression pass needs calibration inputs (ctx.calibX)`);
      const c = await compressGraph(graph, method, level, ctx.calibX);
      return { graph: c.graph, report: c.layers };
    },
  };
}
