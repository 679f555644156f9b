/**
 * Chain-of-Experts exported: the passes over the shared experts, each with its router, are one graph op
 * (MoEOp.iterations), so the layer list, the graph reference, the tfjs LayersModel and ONNX equal the
 * supernet's forward pass; the experts are written and counted once.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildSupernet } from '../nn/Supernet.js';
import { largestArch, smallestArch } from '../space/archCodec.js';
import { createRng } from '../space/rng.js';
import { SearchSpace } from '../space/SearchSpace.js';
import { spiralsWith } from '../train/spiralsRun.js';
import { exportDiffs, maxDiff } from './exportCheck.js';
import { encodeOnnxGraph } from './onnxExport.js';
import { runSubnetGraph, type SubnetOp } from '../nn/graph/evaluate.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('Chain-of-Experts through export', () => {
  it.each([
    ['largest, C = 3, with the block residual', largestArch, 3, true],
    ['smallest, C = 2, without it', smallestArch, 2, false],
  ])('%s: layers, graph, tfjs and ONNX equal the supernet path within 1e-4', async (_label, pick, iterations, residual) => {
    const space = SearchSpace.parse(spiralsWith({ mode: 'topk', k: 1 }, { block: { iterations, residual } }));
    const net = buildSupernet(space, { seed: 4 });
    for (const l of net.moeLayers()) [l.router, ...l.iterationRouters].forEach((r) => r.assign(tf.mul(r, 4)));
    const rng = createRng(2);
    const x = tf.tensor2d(Array.from({ length: 96 * 2 }, () => rng.normal()), [96, 2]);
    const { apply, graph, params, diff } = await exportDiffs(net, pick(space), x);
    expect(params.graph).toBe(params.supernet);
    for (const d of Object.values(diff)) expect(d).toBeLessThan(1e-4);

    // The experts' weights are stored once in the ONNX file, whatever C.
    const one = SearchSpace.parse(spiralsWith({ mode: 'topk', k: 1 }, { block: { residual } }));
    const single = buildSupernet(one, { seed: 4 });
    const bytes = (g: typeof graph) => encodeOnnxGraph(g).length;
    const { graph: graph1 } = await exportDiffs(single, pick(one), x);
    // The extra routers and each pass's plumbing only (a copy of the experts per pass would add ≥ (C − 1)× the file).
    expect(bytes(graph) - bytes(graph1)).toBeLessThan(bytes(graph1) / 4);

    // The passes matter: the op with only its first router gives other logits.
    const onePass = (ops: SubnetOp[]): SubnetOp[] => ops.map((o) => (o.op === 'residual' ? { ...o, body: onePass(o.body) } : o.op === 'moe' ? { ...o, iterations: null } : o));
    expect(maxDiff(runSubnetGraph({ ...graph, ops: onePass(graph.ops) }, x).dataSync(), apply)).toBeGreaterThan(1e-3);
    net.dispose();
    single.dispose();
  }, 60_000);
});
