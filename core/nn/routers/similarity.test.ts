/**
 * Similarity-aware routing: the layer's output equals a plain-JS computation of p̃ = softmax(x W_s xᵀ/τ) ·
 * softmax(x W_g), top-k of p̃, gates renormalised from p̃ (and differs from plain top-k: the mixing
 * matters); W_s learns; the spirals example trains with it; the graph and ONNX equal the
 * supernet within 1e-4 (the tfjs writer refuses the batch-dependent mixing).
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDataset } from '../../data/Dataset.js';
import { encodeOnnxGraph } from '../../export/onnxExport.js';
import { exportedLogits } from '../../export/exportRoundTrip.js';
import { runSubnetGraph } from '../graph/evaluate.js';
import { TrainConfig } from '../../protocol/protocol.js';
import { largestArch, smallestArch } from '../../space/archCodec.js';
import { listExampleSpaces } from '../../space/exampleSpaces.js';
import { createRng } from '../../space/rng.js';
import { SearchSpace, type SearchSpaceInput } from '../../space/SearchSpace.js';
import { train } from '../../train/Trainer.js';
import { moeLayerFixture, randomRows, softmax } from '../moe/moeLayerFixture.js';
import { buildSupernet, subnetGraph } from '../Supernet.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});
const layers = moeLayerFixture({ activation: 'relu' });
afterAll(() => layers.dispose());

const dot = (a: number[], b: number[]) => a.reduce((s, v, i) => s + v * b[i]!, 0);
const matVec = (x: number[], W: number[][]) => W[0]!.map((_, j) => x.reduce((s, v, i) => s + v * W[i]![j]!, 0));
const top = (row: number[], k: number) => row.map((v, i) => [v, i] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]).slice(0, k).map(([, i]) => i);

function withRouting(routing: Record<string, unknown>): SearchSpaceInput {
  const base = listExampleSpaces().find((e) => e.id === 'spirals-moe')!.space;
  return { ...base, stages: base.stages.map((st) => (st.block.type === 'moe' ? { ...st, block: { ...st.block, routing } } : st)) } as SearchSpaceInput;
}

describe('similarity-aware routing', () => {
  it('mixes the expert distribution over the token graph before top-k (plain-JS reference)', () => {
    const d = 4;
    const T = 16;
    const l = layers.layer({ routing: { mode: 'similarity', k: 2, temperature: 0.5 }, residual: false }, d);
    const ws = tf.randomNormal([d, d], 0, 0.5, 'float32', 3);
    l.routerParams!.vars.ws!.assign(tf.add(tf.eye(d), ws));
    const rows = randomRows(T, d, 21);
    const { y } = l.apply(tf.tensor2d(rows), 8, { training: false });
    const W = l.router.arraySync() as number[][];
    const Ws = l.routerParams!.vars.ws!.arraySync() as number[][];
    const P = rows.map((x) => softmax(matVec(x, W)));
    const experts = l.experts.map((e) => ({ w1: e.w1.arraySync() as number[][], b1: e.b1.arraySync() as number[], w2: e.w2.arraySync() as number[][], b2: e.b2.arraySync() as number[] }));
    let changed = 0;
    rows.forEach((x, i) => {
      const q = matVec(x, Ws);
      const Srow = softmax(rows.map((xj) => dot(q, xj) / 0.5));
      const mixed = P[0]!.map((_, e) => Srow.reduce((s, sij, j) => s + sij * P[j]![e]!, 0));
      const chosen = top(mixed, 2);
      if ([...chosen].sort().join() !== top(P[i]!, 2).sort().join()) changed++;
      const norm = chosen.reduce((s, e) => s + mixed[e]!, 0);
      const ref = new Array<number>(d).fill(0);
      for (const e of chosen) {
        const w = experts[e]!;
        const h = w.b1.map((b, j) => Math.max(0, b + x.reduce((s, v, r) => s + v * w.w1[r]![j]!, 0)));
        w.b2.forEach((b, o) => (ref[o]! += (mixed[e]! / norm) * (b + h.reduce((s, v, j) => s + v * w.w2[j]![o]!, 0))));
      }
      const got = (y.arraySync() as number[][])[i]!;
      got.forEach((v, o) => expect(v).toBeCloseTo(ref[o]!, 4));
    });
    // The mixing changed some tokens' experts (else this test could not tell it from plain top-k).
    expect(changed).toBeGreaterThan(0);
  });

  it('W_s gets a gradient (the similarity is learnt) and the spirals example trains with it', async () => {
    const l = layers.layer({ routing: { mode: 'similarity', k: 2 } }, 4);
    const x = tf.tensor2d(randomRows(12, 4, 2));
    const ws = l.routerParams!.vars.ws!;
    const { grads } = tf.variableGrads(() => tf.sum(tf.square(l.apply(x, 8, { training: true }).y)) as tf.Scalar, [ws]);
    expect(Math.max(...Array.from(grads[ws.name]!.dataSync()).map(Math.abs))).toBeGreaterThan(0);

    const config = TrainConfig.parse({ space: withRouting({ mode: 'similarity', k: 2 }), data: { kind: 'spirals', samples: 600, seed: 1 }, strategy: 'plain', steps: 150, batchSize: 32, learningRate: 0.02, evalEvery: 150, checkpointEvery: 1000 });
    const net = buildSupernet(config.space, { seed: 2 });
    const losses: number[] = [];
    let t = 0;
    const res = await train({ config, net, dataset: await loadDataset(config.data), now: () => (t += 10), snapshots: 0, sink: { metrics: (ps) => ps.forEach((p) => losses.push(p.loss)), specialization: () => {}, checkpoint: () => {} } });
    expect(res.status).toBe('completed');
    const mean = (a: number[]) => a.reduce((s, v) => s + v, 0) / a.length;
    expect(mean(losses.slice(-20))).toBeLessThan(mean(losses.slice(0, 20)));
    console.log(`spirals, similarity-aware top-2, 150 steps: loss ${mean(losses.slice(0, 20)).toFixed(3)} → ${mean(losses.slice(-20)).toFixed(3)}, val accuracy ${res.final!.valAccuracy.toFixed(3)} (${res.final!.val.split}, n=${res.final!.val.n}, 95% CI ${res.final!.val.ci95.map((v) => v.toFixed(3)).join('–')})`);
    net.dispose();
  }, 120_000);

  it.each([
    ['largest', largestArch],
    ['smallest', smallestArch],
  ])('%s subnet: the graph and ONNX equal the supernet within 1e-4; tfjs refuses', async (_label, pick) => {
    const space = SearchSpace.parse(withRouting({ mode: 'similarity', k: 2 }));
    const net = buildSupernet(space, { seed: 4 });
    const moe = net.moeLayers()[0]!;
    const D = moe.dMax;
    moe.routerParams!.vars.ws!.assign(tf.add(tf.eye(D), tf.randomNormal([D, D], 0, 0.3, 'float32', 5)));
    const rng = createRng(6);
    const x = tf.tensor2d(Array.from({ length: 48 * 2 }, () => rng.normal() * 2), [48, 2]);
    const arch = pick(space);
    const apply = net.apply(x, arch, { training: false }).logits.dataSync();
    const maxDiff = (a: ArrayLike<number>) => Array.from(a).reduce((m, v, i) => Math.max(m, Math.abs(v - apply[i]!)), 0);
    const graph = subnetGraph(net, arch);
    expect(maxDiff(runSubnetGraph(graph, x).dataSync())).toBeLessThan(1e-4);
    const ort = await import('onnxruntime-node');
    const session = await ort.InferenceSession.create(encodeOnnxGraph(graph));
    const onnx = (await session.run({ input: new ort.Tensor('float32', Float32Array.from(x.dataSync()), x.shape) })).logits!.data as Float32Array;
    expect(maxDiff(onnx)).toBeLessThan(1e-4);
    await expect(exportedLogits(graph, x)).rejects.toThrow(/similarity-aware/);
    // The lowering matters: without the mixing the graph computes something else.
    const plain = graph.ops.map((o) => (o.op === 'residual' ? { ...o, body: o.body.map((b) => (b.op === 'moe' ? { ...b, similarity: null } : b)) } : o));
    expect(maxDiff(runSubnetGraph({ ...graph, ops: plain }, x).dataSync())).toBeGreaterThan(1e-3);
    net.dispose();
  });
});
