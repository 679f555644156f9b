/**
 * A sequence classifier (input kind 'sequence': T feature vectors; dense and MoE blocks act on every token)
 * lowers to the subnet graph with a token-mean op before the head (MoEOp routes the N·T tokens as rows), and
 * the graph reference, the tfjs LayersModel and ONNX equal the supernet's forward pass. The token mean is
 * checked against a plain-JS computation.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { runSubnetGraph } from '../nn/graph/evaluate.js';
import { buildSupernet } from '../nn/Supernet.js';
import { largestArch, smallestArch } from '../space/archCodec.js';
import { createRng } from '../space/rng.js';
import { SearchSpace, type Arch } from '../space/SearchSpace.js';
import { exportDiffs, maxDiff } from './exportCheck.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const T = 5;
const F = 3;

const sequenceSpace = (moe: boolean) =>
  SearchSpace.parse({
    version: 1,
    name: 'sequence classifier',
    input: { kind: 'sequence', length: T, dim: F },
    numClasses: 3,
    stages: [
      { id: 'stem', depth: [1, 2], block: { type: 'dense', width: [6, 8], activation: 'relu', residual: true } },
      ...(moe ? [{ id: 'moe', depth: [1], block: { type: 'moe', experts: 4, expertHidden: [8, 12], activation: 'relu', routing: { mode: 'topk', k: 2 }, residual: true } }] : []),
    ],
  });

const batch = (n: number, seed: number) => {
  const rng = createRng(seed);
  return tf.tensor3d(Array.from({ length: n * T * F }, () => rng.normal()), [n, T, F]);
};

describe('sequence → vector pooling (tokenMean) through export', () => {
  it.each([
    ['largest', largestArch],
    ['smallest', smallestArch],
  ])('%s dense + MoE subnet: graph, tfjs and ONNX equal the supernet path within 1e-4', async (_label, pick) => {
    const space = sequenceSpace(true);
    const net = buildSupernet(space, { seed: 3 });
    for (const l of net.moeLayers()) l.router.assign(tf.mul(l.router, 4)); // confident routers: the choice matters
    const { graph, params, diff } = await exportDiffs(net, pick(space), batch(16, 2));
    expect(graph.ops.filter((o) => o.op === 'tokenMean').map((o) => o.name)).toEqual(['head.pool']);
    expect(params.graph).toBe(params.supernet);
    for (const d of Object.values(diff)) expect(d).toBeLessThan(1e-4);
    net.dispose();
  });

  it('is the mean over the tokens: equals a plain-JS forward, and the graph without it differs', () => {
    const space = sequenceSpace(false);
    const net = buildSupernet(space, { seed: 5 });
    const arch: Arch = { stages: [{ depth: 1, blocks: [{ op: 'dense', width: 6 }] }] };
    const v = net.namedVariables();
    const k = v.get('stem.b0.dense.kernel')!.arraySync() as number[][];
    const b = v.get('stem.b0.dense.bias')!.arraySync() as number[];
    const hk = v.get('head.kernel')!.arraySync() as number[][];
    const hb = v.get('head.bias')!.arraySync() as number[];
    const x = batch(4, 7);
    const xs = x.arraySync() as number[][][];
    // relu(x_t · W + b) per token, the mean over t, then the head.
    const want = xs.map((seq) => {
      const hs = seq.map((xt) => Array.from({ length: 6 }, (_, j) => Math.max(0, xt.reduce((s, xi, i) => s + xi * k[i]![j]!, b[j]!))));
      const mean = Array.from({ length: 6 }, (_, j) => hs.reduce((s, h) => s + h[j]!, 0) / T);
      return hb.map((bc, c) => mean.reduce((s, m, j) => s + m * hk[j]![c]!, bc));
    });
    const graph = net.subnetGraph(arch);
    const got = runSubnetGraph(graph, x);
    expect(maxDiff(got.dataSync(), want.flat())).toBeLessThan(1e-5);
    // Without the pooling the head reads [N, T·6]: no model.
    const lastToken = { ...graph, ops: graph.ops.map((o) => (o.op === 'tokenMean' ? ({ op: 'flatten', name: o.name } as const) : o)) };
    expect(() => runSubnetGraph(lastToken, x)).toThrow();
    net.dispose();
  });
});
