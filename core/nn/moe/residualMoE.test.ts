/**
 * DeepSpeed-MoE residual MoE: y = c₀·MoE(x) + c₁·MLP(x) with [c₀, c₁] = softmax(x W_c + b_c) (deepspeed
 * moe/layer.py use_residual), against a plain-JS computation; the MLP and coefficient learn; the spirals
 * example trains with it; tfjs, ONNX and the graph equal the supernet within 1e-4.
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDataset } from '../../data/Dataset.js';
import { exportedLogits } from '../../export/exportRoundTrip.js';
import { countGraphParams, runSubnetGraph } from '../graph/evaluate.js';
import { TrainConfig } from '../../protocol/protocol.js';
import { largestArch, smallestArch } from '../../space/archCodec.js';
import { listExampleSpaces } from '../../space/exampleSpaces.js';
import { createRng } from '../../space/rng.js';
import { SearchSpace, type SearchSpaceInput } from '../../space/SearchSpace.js';
import { train } from '../../train/Trainer.js';
import { buildSupernet, subnetGraph } from '../Supernet.js';
import { hostFfn as host, moeLayerFixture, randomRows, reluFfn as relu, softmax } from './moeLayerFixture.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});
const layers = moeLayerFixture({ activation: 'relu' });
afterAll(() => layers.dispose());


function spirals(block: Record<string, unknown>): SearchSpaceInput {
  const base = listExampleSpaces().find((e) => e.id === 'spirals-moe')!.space;
  return { ...base, stages: base.stages.map((st) => (st.block.type === 'moe' ? { ...st, block: { ...st.block, ...block } } : st)) } as SearchSpaceInput;
}

describe('residual MoE (DeepSpeed-MoE)', () => {
  it('mixes the routed expert and the dense MLP by softmax(x W_c + b_c) (plain-JS reference)', () => {
    const d = 4;
    const l = layers.layer({ routing: { mode: 'topk', k: 1 }, residualMlp: true, residual: true }, d);
    expect(l.residualMlp).not.toBeNull();
    const rows = randomRows(12, d, 5);
    const { y } = l.apply(tf.tensor2d(rows), 8, { training: false });
    const W = l.router.arraySync() as number[][];
    const Wc = l.residualMlp!.coef.arraySync() as number[][];
    const bc = l.residualMlp!.coefBias.arraySync() as number[];
    const experts = l.experts.map(host);
    const mlp = host(l.residualMlp!.ffn);
    const got = y.arraySync() as number[][];
    rows.forEach((x, t) => {
      const p = softmax(W[0]!.map((_, j) => x.reduce((s, v, i) => s + v * W[i]![j]!, 0)));
      const e = p.indexOf(Math.max(...p));
      const c = softmax([0, 1].map((j) => bc[j]! + x.reduce((s, v, i) => s + v * Wc[i]![j]!, 0)));
      const moeOut = relu(experts[e]!, x).map((v) => p[e]! * v); // top-1: the raw gate
      const dense = relu(mlp, x);
      got[t]!.forEach((v, o) => expect(v).toBeCloseTo(x[o]! + c[0]! * moeOut[o]! + c[1]! * dense[o]!, 4));
    });
  });

  it('trains the MLP and the coefficient, and the spirals example with top-1 + residual MLP', async () => {
    const l = layers.layer({ routing: { mode: 'topk', k: 1 }, residualMlp: true }, 4);
    const x = tf.tensor2d(randomRows(16, 4, 2));
    const rm = l.residualMlp!;
    const { grads } = tf.variableGrads(() => tf.sum(tf.square(l.apply(x, 8, { training: true }).y)) as tf.Scalar, [rm.ffn.w1, rm.coef]);
    for (const v of [rm.ffn.w1, rm.coef]) expect(Math.max(...Array.from(grads[v.name]!.dataSync()).map(Math.abs))).toBeGreaterThan(0);

    const config = TrainConfig.parse({ space: spirals({ routing: { mode: 'topk', k: 1 }, residualMlp: true }), data: { kind: 'spirals', samples: 600, seed: 1 }, strategy: 'plain', steps: 150, batchSize: 32, learningRate: 0.02, evalEvery: 150, checkpointEvery: 1000 });
    const net = buildSupernet(config.space, { seed: 2 });
    const losses: number[] = [];
    let t = 0;
    const res = await train({ config, net, dataset: await loadDataset(config.data), now: () => (t += 10), snapshots: 0, sink: { metrics: (ps) => ps.forEach((p) => losses.push(p.loss)), specialization: () => {}, checkpoint: () => {} } });
    const mean = (a: number[]) => a.reduce((s, v) => s + v, 0) / a.length;
    expect(mean(losses.slice(-20))).toBeLessThan(mean(losses.slice(0, 20)));
    console.log(`spirals, residual MoE (top-1 + dense MLP), 150 steps: loss ${mean(losses.slice(0, 20)).toFixed(3)} → ${mean(losses.slice(-20)).toFixed(3)}, val accuracy ${res.final!.valAccuracy.toFixed(3)} (${res.final!.val.split}, n=${res.final!.val.n}, 95% CI ${res.final!.val.ci95.map((v) => v.toFixed(3)).join('–')})`);
    net.dispose();
  }, 120_000);

  it.each([
    ['largest', largestArch],
    ['smallest', smallestArch],
  ])('%s subnet: tfjs, ONNX and the graph equal the supernet within 1e-4', async (_label, pick) => {
    const space = SearchSpace.parse(spirals({ routing: { mode: 'topk', k: 1 }, residualMlp: true }));
    const net = buildSupernet(space, { seed: 4 });
    const rng = createRng(6);
    const x = tf.tensor2d(Array.from({ length: 40 * 2 }, () => rng.normal() * 2), [40, 2]);
    const arch = pick(space);
    const apply = net.apply(x, arch, { training: false }).logits.dataSync();
    const maxDiff = (a: ArrayLike<number>) => Array.from(a).reduce((m, v, i) => Math.max(m, Math.abs(v - apply[i]!)), 0);
    const graph = subnetGraph(net, arch);
    expect(countGraphParams(graph)).toBe(net.countParams(arch));
    expect(maxDiff(runSubnetGraph(graph, x).dataSync())).toBeLessThan(1e-4);
    const { tfjs, onnx } = await exportedLogits(graph, x);
    expect(maxDiff(tfjs)).toBeLessThan(1e-4);
    expect(maxDiff(onnx)).toBeLessThan(1e-4);
    // The lowering matters: the graph without the residual MLP computes something else.
    const plain = graph.ops.map((o) => (o.op === 'residual' ? { ...o, body: o.body.map((b) => (b.op === 'moe' ? { ...b, residualMlp: null } : b)) } : o));
    expect(maxDiff(runSubnetGraph({ ...graph, ops: plain }, x).dataSync())).toBeGreaterThan(1e-3);
    net.dispose();
  });
});
