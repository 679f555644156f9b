/**
 * Auxiliary-loss-free balancing exported: the per-expert selection bias lowers onto the graph's top-k as
 * `gating.bias` (ranking by p + b, gates from p), so the graph reference, the tfjs
 * LayersModel and ONNX equal the supernet's own forward pass.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildSupernet, subnetGraph } from '../nn/Supernet.js';
import { largestArch, smallestArch } from '../space/archCodec.js';
import { listExampleSpaces } from '../space/exampleSpaces.js';
import { createRng } from '../space/rng.js';
import { SearchSpace } from '../space/SearchSpace.js';
import { exportedLogits } from './exportRoundTrip.js';
import { runSubnetGraph } from '../nn/graph/evaluate.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

describe('loss-free balancing bias through export', () => {
  it.each([
    ['largest', largestArch],
    ['smallest', smallestArch],
  ])('%s subnet: graph, tfjs and ONNX equal the supernet path within 1e-4', async (_label, pick) => {
    const base = listExampleSpaces().find((e) => e.id === 'spirals-moe')!.space;
    const space = SearchSpace.parse({
      ...base,
      stages: base.stages.map((st) => (st.block.type === 'moe' ? { ...st, block: { ...st.block, auxLossWeight: 0, routing: { mode: 'topk', k: 2, biasUpdateRate: 0.001 } } } : st)),
    });
    const net = buildSupernet(space, { seed: 4 });
    const rng = createRng(2);
    const batch = (n: number) => tf.tensor2d(Array.from({ length: n * 2 }, () => rng.normal() * 3), [n, 2]);
    const arch = pick(space);
    const moe = net.moeLayers()[0]!;
    // Training passes move the bias; then a larger one on expert 3 so that it changes many choices.
    for (let i = 0; i < 5; i++) net.apply(batch(64), arch, { training: true });
    expect(Math.max(...Array.from(moe.selectionBias!.dataSync()).map(Math.abs))).toBeGreaterThan(0);
    moe.selectionBias!.assign(tf.add(moe.selectionBias!, tf.tensor1d([0, 0, 0, 0.2])));

    const x = batch(96);
    const apply = net.apply(x, arch, { training: false }).logits.dataSync();
    const graph = subnetGraph(net, arch);
    expect(maxDiff(runSubnetGraph(graph, x).dataSync(), apply)).toBeLessThan(1e-4);
    const { tfjs: tfjsOut, onnx: onnxOut } = await exportedLogits(graph, x);
    expect(maxDiff(tfjsOut, apply)).toBeLessThan(1e-4);
    expect(maxDiff(onnxOut, apply)).toBeLessThan(1e-4);

    // The lowering matters: the same graph without the bias routes elsewhere.
    const unbiased = graph.ops.map((o) =>
      o.op === 'residual' ? { ...o, body: o.body.map((b) => (b.op === 'moe' && b.gating.mode === 'topk' ? { ...b, gating: { mode: 'topk' as const, k: b.gating.k } } : b)) } : o,
    );
    expect(maxDiff(runSubnetGraph({ ...graph, ops: unbiased }, x).dataSync(), apply)).toBeGreaterThan(1e-3);
    net.dispose();
  });
});
