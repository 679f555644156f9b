/**
 * RMoE exported: the GRU state crossing the MoE layers is part of the graph (MoEOp.recurrent), so the layer
 * list, the graph reference, the tfjs LayersModel and ONNX equal the supernet's forward pass; the shared
 * cell is written once and counted once.
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

describe('RMoE through export', () => {
  it.each([
    ['largest (3 RMoE layers)', largestArch],
    ['smallest (2 RMoE layers, narrower input)', smallestArch],
  ])('%s subnet: layers, graph, tfjs and ONNX equal the supernet path within 1e-4', async (_label, pick) => {
    const space = SearchSpace.parse(spiralsWith({ mode: 'rmoe', hidden: 8 }, { depth: [2, 3] }));
    const net = buildSupernet(space, { seed: 4 });
    // Confident routers, so the state's effect shows in the choice of experts.
    for (const l of net.moeLayers()) l.router.assign(tf.mul(l.router, 4));
    const rng = createRng(2);
    const x = tf.tensor2d(Array.from({ length: 96 * 2 }, () => rng.normal() * 2), [96, 2]);
    const { apply, graph, params, diff } = await exportDiffs(net, pick(space), x);
    expect(params.graph).toBe(params.supernet);
    for (const d of Object.values(diff)) expect(d).toBeLessThan(1e-4);

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
