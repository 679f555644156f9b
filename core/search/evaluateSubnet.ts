/**
 * Score one subnet of a trained supernet for search: validation accuracy with inherited weights
 * (BatchNorm statistics re-estimated for the subnet first, as OFA does, Cai et al. 2020 §3.3), its
 * parameter count and FLOPs, and its latency on the active backend.
 *
 * Latency is measured on the subnet's standalone graph (the sliced weights uploaded once, the same ops
 * the exported model runs) rather than through the supernet, whose per-call weight slicing and CPU-side
 * routing are training machinery a deployed model does not pay (see measureGraphLatency).
 */
import * as tf from '@tensorflow/tfjs';
import type { Split } from '../data/Dataset.js';
import { inputShapeOf, type SubnetGraph } from '../nn/graph/evaluate.js';
import { graphSize } from '../nn/graph/storage.js';
import { recalibrateBatchNorm, subnetGraph as lowerSubnet } from '../nn/Supernet.js';
import { readVariablesForSlicing } from '../nn/moe/MoELayer.js';
import type { Supernet } from '../nn/types.js';
import type { Arch, SearchSpace } from '../space/SearchSpace.js';
import { hasBatchNorm } from '../train/batchNorm.js';
import { evaluateArch } from '../train/evaluate.js';
import { measureGraphLatencies, type LatencyTable, type TimingOptions } from './LatencyTable.js';

export interface SubnetEvaluation {
  accuracy: number;
  /** Samples `accuracy` was measured on. */
  samples: number;
  loss: number;
  latencyMs: number;
  /** Lookup-table prediction, when a table was given. */
  latencyLutMs?: number;
  params: number;
  flops: number;
  /** Size in bits as stored: every weight at its block's `bits` choice (codes + per-channel steps), the rest float32. */
  bits: number;
}

export interface EvaluateSubnetContext {
  net: Supernet;
  /** Validation samples accuracy is measured on (held out of training; never the test split). */
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


/** The subnet's standalone graph (sliced weights), as exported. */
export async function subnetGraph(net: Supernet, arch: Arch): Promise<SubnetGraph> {
  await readVariablesForSlicing(net.namedVariables().values());
  return lowerSubnet(net, arch);
}

/**
 * Latency (ms) of a subnet graph on the active backend for a batch of `batchSize` inputs: warm-up
 * runs, then `rounds` rounds of `runs` timed forwards, each synchronised by downloading its result;
 * the median of the round medians.
 */
export async function measureGraphLatency(graph: SubnetGraph, timing: Partial<TimingOptions> = {}): Promise<number> {
  const [ms] = await measureGraphLatencies([graph], timing);
  return ms!;
}

export async function evaluateSubnet(ctx: EvaluateSubnetContext, arch: Arch): Promise<SubnetEvaluation> {
  const { net } = ctx;
  if (ctx.bnBatches && ctx.bnBatches.length > 0 && hasBatchNorm(net.space)) recalibrateBatchNorm(net, arch, ctx.bnBatches);
  const e = await evaluateArch(net, arch, ctx.val, { inputShape: inputShapeOf(net.space.input), limit: Math.min(ctx.evalSamples, ctx.val.n) });
  // The graph prices the `bits` objective too (sizes as stored), so it is always lowered.
  const graph = await subnetGraph(net, arch);
  const latencyMs = ctx.measureLatency !== false ? await measureGraphLatency(graph, ctx.timing) : NaN;
  const latencyLutMs = ctx.lut ? await ctx.lut.predict(graph) : undefined;
  return {
    accuracy: e.accuracy,
    samples: e.samples,
    loss: e.loss,
    latencyMs,
    ...(latencyLutMs !== undefined ? { latencyLutMs } : {}),
    params: net.countParams(arch),
    flops: net.countFlops(arch),
    bits: graphSize(graph).bits,
  };
}
