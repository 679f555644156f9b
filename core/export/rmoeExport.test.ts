/**
 * RMoE exported: the GRU state crossing the MoE layers is part of the graph (MoEOp.recurrent), so the layer
 * list, the graph reference, the tfjs LayersModel and ONNX equal the supernet's forward pass; the shared
 * cell is written once and counted once.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { countSubnetLayerParams, runSubnetLayers } from '../nn/runSubnetLayers.js';
import { buildSupernet, subnetWeights } from '../nn/Supernet.js';
import { largestArch, smallestArch } from '../space/archCodec.js';
import { createRng } from '../space/rng.js';
import { SearchSpace } from '../space/SearchSpace.js';
import { spiralsWith } from '../train/spiralsRun.js';
import { exportedLogits } from './exportRoundTrip.js';
import { countGraphParams, runSubnetGraph, type SubnetOp } from './subnetGraph.js';
import { subnetGraphFromLayers } from './subnetGraphFromLayers.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

describe('RMoE through export', () => {
  it.each([
    ['largest (3 RMoE layers)', largestArch],
    ['smallest (2 RMoE layers, narrower input)', smallestArch],
  ])('%s subnet: layers, graph, tfjs and ONNX equal the supernet path within 1e-4', async (_label, pick) => {
    const space = SearchSpace.parse(spiralsWith({ mode: 'rmoe', hidden: 8 }, [2, 3]));
    const net = buildSupernet(space, { seed: 4 });
    // Confident routers, so the state's effect shows in the choice of experts.
    for (const l of net.moeLayers()) l.router.assign(tf.mul(l.router, 4));
    const rng = createRng(2);
    const x = tf.tensor2d(Array.from({ length: 96 * 2 }, () => rng.normal() * 2), [96, 2]);
    const arch = pick(space);
    const apply = net.apply(x, arch, { training: false }).logits.dataSync();
    const layers = subnetWeights(net, arch);
    const graph = subnetGraphFromLayers(space.input, space.numClasses, layers);
    expect(countSubnetLayerParams(layers)).toBe(net.countParams(arch));
    expect(countGraphParams(graph)).toBe(net.countParams(arch));

    expect(maxDiff(runSubnetLayers(layers, x).dataSync(), apply)).toBeLessThan(1e-4);
    expect(maxDiff(runSubnetGraph(graph, x).dataSync(), apply)).toBeLessThan(1e-4);
    const { tfjs: tfjsOut, onnx: onnxOut } = await exportedLogits(graph, x);
    expect(maxDiff(tfjsOut, apply)).toBeLessThan(1e-4);
    expect(maxDiff(onnxOut, apply)).toBeLessThan(1e-4);

    // The carried state matters: each op starting its own chain from h = 0 (its own copy of the cell) gives other logits.
    let cell: unknown = null;
    const cut = (ops: SubnetOp[]): SubnetOp[] =>
      ops.map((o) => {
        if (o.op === 'residual') return { ...o, body: cut(o.body) };
        if (o.op !== 'moe' || !o.recurrent) return o;
        cell ??= o.recurrent.gru;
        return { ...o, recurrent: { ...o.recurrent, chain: o.name, gru: cell as typeof o.recurrent.gru } };
      });
    expect(maxDiff(runSubnetGraph({ ...graph, ops: cut(graph.ops) }, x).dataSync(), apply)).toBeGreaterThan(1e-3);
    net.dispose();
  }, 60_000);
});
