/**
 * Score one subnet of a trained supernet for search: validation accuracy with inherited weights
 * (BatchNorm statistics re-estimated for the subnet first, as OFA does, Cai et al. 2020 §3.3), its
 * parameter count and FLOPs, and its latency on the active backend.
 *
 * Latency is measured on the subnet's standalone graph (the sliced weights uploaded once, the same ops
 * the exported model runs) rather than through the supernet, whose per-call weight slicing and CPU-side
 * routing are training machinery a deployed model does not pay: warm-up runs, then the median of n
 * runs, each synchronised by downloading the result.
 */
import * as tf from '@tensorflow/tfjs';
import type { Split } from '../data/Dataset.js';
import { compileSubnetGraph, inputShapeOf, type SubnetGraph } from '../export/subnetGraph.js';
import { subnetGraphFromLayers } from '../export/subnetGraphFromLayers.js';
import { recalibrateBatchNorm, subnetWeights } from '../nn/Supernet.js';
import { readVariablesForSlicing } from '../nn/moe/MoELayer.js';
import type { Supernet } from '../nn/types.js';
import type { Arch, SearchSpace } from '../space/SearchSpace.js';
import { evaluateArch } from '../train/evaluate.js';
import { DEFAULT_TIMING, timeMedian, type LatencyTable, type TimingOptions } from './LatencyTable.js';

export interface SubnetEvaluation {
  accuracy: number;
  loss: number;
  latencyMs: number;
  /** Lookup-table prediction, when a table was given. */
  latencyLutMs?: number;
  params: number;
  flops: number;
}

export interface EvaluateSubnetContext {
  net: Supernet;
  /** Held-out samples accuracy is measured on. */
  val: Split;
  /** Score at most this many samples of `val`. */
  evalSamples: number;
  /** Training batches for BatchNorm recalibration (ignored for spaces without BatchNorm). */
  bnBatches?: readonly tf.Tensor[];
  timing?: Partial<TimingOptions>;
  lut?: LatencyTable;
  /** Skip the wall-clock measurement (tests, or when only the table is wanted). */
  measureLatency?: boolean;
}

export function spaceHasBatchNorm(space: SearchSpace): boolean {
  return space.stages.some((s) => s.block.type === 'conv' && s.block.batchNorm);
}

/** The subnet's standalone graph (sliced weights), as exported. */
export async function subnetGraph(net: Supernet, arch: Arch): Promise<SubnetGraph> {
  await readVariablesForSlicing(net.namedVariables().values());
  return subnetGraphFromLayers(net.space.input, net.space.numClasses, subnetWeights(net, arch));
}

/** Median latency (ms) of a subnet graph on the active backend for a batch of `batchSize` inputs. */
export async function measureGraphLatency(graph: SubnetGraph, timing: Partial<TimingOptions> = {}): Promise<number> {
  const t = { ...DEFAULT_TIMING, ...timing };
  const compiled = compileSubnetGraph(graph);
  const x = tf.randomNormal([t.batchSize, ...inputShapeOf(graph.input)]);
  try {
    return await timeMedian(() => compiled.run(x), t);
  } finally {
    x.dispose();
    compiled.dispose();
  }
}

export async function evaluateSubnet(ctx: EvaluateSubnetContext, arch: Arch): Promise<SubnetEvaluation> {
  const { net } = ctx;
  if (ctx.bnBatches && ctx.bnBatches.length > 0 && spaceHasBatchNorm(net.space)) recalibrateBatchNorm(net, arch, ctx.bnBatches);
  const e = await evaluateArch(net, arch, ctx.val, { inputShape: inputShapeOf(net.space.input), limit: Math.min(ctx.evalSamples, ctx.val.n) });
  const needGraph = ctx.measureLatency !== false || ctx.lut;
  const graph = needGraph ? await subnetGraph(net, arch) : null;
  const latencyMs = graph && ctx.measureLatency !== false ? await measureGraphLatency(graph, ctx.timing) : NaN;
  const latencyLutMs = graph && ctx.lut ? await ctx.lut.predict(graph) : undefined;
  return {
    accuracy: e.accuracy,
    loss: e.loss,
    latencyMs,
    ...(latencyLutMs !== undefined ? { latencyLutMs } : {}),
    params: net.countParams(arch),
    flops: net.countFlops(arch),
  };
}
