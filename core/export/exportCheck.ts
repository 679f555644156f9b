/**
 * Test helper: one subnet of a supernet through every export path — the subnet graph's reference
 * evaluator, the tfjs LayersModel and ONNX — as max |difference| from the supernet's own forward pass,
 * with the parameter counts each side reports.
 */
import type * as tf from '@tensorflow/tfjs';
import { subnetGraph } from '../nn/Supernet.js';
import type { Supernet } from '../nn/types.js';
import type { Arch } from '../space/SearchSpace.js';
import { exportedLogits } from './exportRoundTrip.js';
import { countGraphParams, runSubnetGraph, type SubnetGraph } from '../nn/graph/evaluate.js';

export const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

export async function exportDiffs(net: Supernet, arch: Arch, x: tf.Tensor) {
  const apply = net.apply(x, arch, { training: false }).logits.dataSync();
  const graph: SubnetGraph = subnetGraph(net, arch);
  const { tfjs, onnx } = await exportedLogits(graph, x);
  return {
    apply,
    graph,
    params: { supernet: net.countParams(arch), graph: countGraphParams(graph) },
    diff: { graph: maxDiff(runSubnetGraph(graph, x).dataSync(), apply), tfjs: maxDiff(tfjs, apply), onnx: maxDiff(onnx, apply) },
  };
}
