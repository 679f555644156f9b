/**
 * MomentumSMoE exported: the buffer crossing the MoE layers is part of the graph (MoEOp.momentum), so the
 * layer list, the graph reference, the tfjs LayersModel and ONNX equal the supernet's forward pass.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildSupernet } from '../nn/Supernet.js';
import { largestArch, smallestArch } from '../space/archCodec.js';
import { createRng } from '../space/rng.js';
import { SearchSpace } from '../space/SearchSpace.js';
import { spiralsWith } from '../train/spiralsRun.js';
import { exportDiffs, maxDiff } from './exportCheck.js';
import { runSubnetGraph, type SubnetOp } from '../nn/graph/evaluate.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('MomentumSMoE through export', () => {
  it.each([
    ['largest (3 momentum layers, with Chain-of-Experts passes)', largestArch, 2],
    ['smallest (2 momentum layers)', smallestArch, 1],
  ])('%s: layers, graph, tfjs and ONNX equal the supernet path within 1e-4', async (_label, pick, iterations) => {
    const space = SearchSpace.parse(spiralsWith({ mode: 'topk', k: 2 }, { depth: [2, 3], block: { momentum: { mu: 0.7, gamma: 1 }, iterations } }));
    const net = buildSupernet(space, { seed: 4 });
    const rng = createRng(2);
    const x = tf.tensor2d(Array.from({ length: 64 * 2 }, () => rng.normal()), [64, 2]);
    const { apply, graph, params, diff } = await exportDiffs(net, pick(space), x);
    expect(params.graph).toBe(params.supernet);
    for (const d of Object.values(diff)) expect(d).toBeLessThan(1e-4);
    // The buffer matters: the same graph with μ = 0 gives other logits.
    const noMu = (ops: SubnetOp[]): SubnetOp[] => ops.map((o) => (o.op === 'residual' ? { ...o, body: noMu(o.body) } : o.op === 'moe' && o.momentum ? { ...o, momentum: { ...o.momentum, mu: 0 } } : o));
    expect(maxDiff(runSubnetGraph({ ...graph, ops: noMu(graph.ops) }, x).dataSync(), apply)).toBeGreaterThan(1e-3);
    net.dispose();
  }, 60_000);
});
