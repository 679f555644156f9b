/**
 * MixER exported: nearest centroid = argmax (2 x·c − |c|²) lowers to the graph's dense router (kernel 2C,
 * bias −|c|²) and its top-1 selection, so the graph reference, the tfjs LayersModel and
 * ONNX equal the supernet's own forward pass, with no new op.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildSupernet, subnetGraph } from '../nn/Supernet.js';
import { largestArch, smallestArch } from '../space/archCodec.js';
import { listExampleSpaces } from '../space/exampleSpaces.js';
import { createRng } from '../space/rng.js';
import { SearchSpace } from '../space/SearchSpace.js';
import { exportedLogits } from './exportRoundTrip.js';
import { countGraphParams, runSubnetGraph } from '../nn/graph/evaluate.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

describe('MixER through export', () => {
  it.each([
    ['largest', largestArch],
    ['smallest (centroids sliced to the narrower stem)', smallestArch],
  ])('%s subnet: graph, tfjs and ONNX equal the supernet path within 1e-4', async (_label, pick) => {
    const base = listExampleSpaces().find((e) => e.id === 'spirals-moe')!.space;
    const space = SearchSpace.parse({ ...base, stages: base.stages.map((st) => (st.block.type === 'moe' ? { ...st, block: { ...st.block, routing: { mode: 'mixer' } } } : st)) });
    const net = buildSupernet(space, { seed: 4 });
    const rng = createRng(2);
    const batch = (n: number) => tf.tensor2d(Array.from({ length: n * 2 }, () => rng.normal()), [n, 2]);
    const arch = pick(space);
    // Training passes move the centroids (K-means steps) so the export carries learnt ones.
    const moe = net.moeLayers()[0]!;
    const start = moe.router.dataSync().slice();
    for (let i = 0; i < 5; i++) net.apply(batch(64), arch, { training: true });
    expect(maxDiff(moe.router.dataSync(), start)).toBeGreaterThan(1e-3);

    const x = batch(96);
    const out = net.apply(x, arch, { training: false });
    const apply = out.logits.dataSync();
    const experts = new Set(out.moe[0]!.topExpert.dataSync());
    expect(experts.size).toBeGreaterThan(1); // several experts in play, so the selection is exercised
    const graph = subnetGraph(net, arch);
    expect(countGraphParams(graph)).toBe(net.countParams(arch)); // the bias −|c|² counts as exported

    expect(maxDiff(runSubnetGraph(graph, x).dataSync(), apply)).toBeLessThan(1e-4);

    const { tfjs: tfjsOut, onnx: onnxOut } = await exportedLogits(graph, x);
    expect(maxDiff(tfjsOut, apply)).toBeLessThan(1e-4);
    expect(maxDiff(onnxOut, apply)).toBeLessThan(1e-4);

    // The lowering matters: the centroids as a plain router (no 2×, no −|c|² bias) route elsewhere.
    const plain = graph.ops.map((o) => (o.op === 'residual' ? { ...o, body: o.body.map((b) => (b.op === 'moe' ? { ...b, router: { ...b.router, bias: null } } : b)) } : o));
    expect(maxDiff(runSubnetGraph({ ...graph, ops: plain }, x).dataSync(), apply)).toBeGreaterThan(1e-3);
    net.dispose();
  });
});
