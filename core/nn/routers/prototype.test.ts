/**
 * ProMoE prototypical routing: the layer's output against a plain-JS computation (scores α·cos(x, p_j),
 * top-1, gate = the score itself, no softmax); the routing contrastive loss against a plain-JS Eq. (6)
 * (experts without tokens left out) and its gradient pulling each prototype toward its tokens' mean; the
 * spirals example trains with it; the graph and ONNX equal the supernet within 1e-4.
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDataset } from '../../data/Dataset.js';
import { exportedLogits } from '../../export/exportRoundTrip.js';
import { encodeOnnxGraph } from '../../export/onnxExport.js';
import { runSubnetGraph } from '../graph/evaluate.js';
import { TrainConfig } from '../../protocol/protocol.js';
import { largestArch, smallestArch } from '../../space/archCodec.js';
import { listExampleSpaces } from '../../space/exampleSpaces.js';
import { createRng } from '../../space/rng.js';
import { SearchSpace, type SearchSpaceInput } from '../../space/SearchSpace.js';
import { train } from '../../train/Trainer.js';
import { moeLayerFixture, randomRows } from '../moe/moeLayerFixture.js';
import { buildSupernet, subnetGraph } from '../Supernet.js';
import { routingContrastiveLoss } from './prototype.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});
const layers = moeLayerFixture({ activation: 'relu' });
afterAll(() => layers.dispose());

const norm = (v: number[]) => Math.sqrt(v.reduce((s, x) => s + x * x, 0));
const cos = (a: number[], b: number[]) => a.reduce((s, v, i) => s + v * b[i]!, 0) / (norm(a) * norm(b));
const column = (W: number[][], j: number) => W.map((row) => row[j]!);

function spirals(routing: Record<string, unknown>): SearchSpaceInput {
  const base = listExampleSpaces().find((e) => e.id === 'spirals-moe')!.space;
  return { ...base, stages: base.stages.map((st) => (st.block.type === 'moe' ? { ...st, block: { ...st.block, auxLossWeight: 0, routing } } : st)) } as SearchSpaceInput;
}

/** Eq. (6) in plain JS: prototypes as columns of W, top-1 expert per token. */
function rclReference(x: number[][], W: number[][], expertOf: number[], tau: number): number {
  const S = W[0]!.length;
  const means = Array.from({ length: S }, (_, e) => {
    const mine = x.filter((_, t) => expertOf[t] === e);
    return mine.length ? mine[0]!.map((_, i) => mine.reduce((s, r) => s + r[i]!, 0) / mine.length) : null;
  });
  const active = means.map((m, e) => (m ? e : -1)).filter((e) => e >= 0);
  let sum = 0;
  for (const i of active) {
    const logits = active.map((j) => cos(column(W, i), means[j]!) / tau);
    const lse = Math.log(logits.reduce((s, v) => s + Math.exp(v), 0));
    sum += -(cos(column(W, i), means[i]!) / tau - lse);
  }
  return sum / active.length;
}

describe('ProMoE prototypical routing', () => {
  it('routes by α·cos(x, p) and gates by the cosine score itself (plain-JS reference)', () => {
    const d = 5;
    const l = layers.layer({ routing: { mode: 'prototype', k: 1, scale: 2 }, residual: false }, d);
    const rows = randomRows(10, d, 8);
    const { y, report } = l.apply(tf.tensor2d(rows), 8, { training: false });
    const W = l.router.arraySync() as number[][];
    const got = y.arraySync() as number[][];
    const experts = l.experts.map((e) => ({ w1: e.w1.arraySync() as number[][], b1: e.b1.arraySync() as number[], w2: e.w2.arraySync() as number[][], b2: e.b2.arraySync() as number[] }));
    rows.forEach((x, t) => {
      const scores = [0, 1, 2, 3].map((j) => 2 * cos(x, column(W, j)));
      const best = scores.indexOf(Math.max(...scores));
      const e = experts[best]!;
      const h = e.b1.map((b, j) => Math.max(0, b + x.reduce((s, v, i) => s + v * e.w1[i]![j]!, 0)));
      const ref = e.b2.map((b, o) => scores[best]! * (b + h.reduce((s, v, j) => s + v * e.w2[j]![o]!, 0)));
      got[t]!.forEach((v, o) => expect(v).toBeCloseTo(ref[o]!, 4));
    });
    // The layer reports the contrastive loss with its weight (λ = 1 by default).
    expect(report.losses?.find((x) => x.name === 'rcl')?.weight).toBe(1);
  });

  it('computes the routing contrastive loss of Eq. (6), leaving experts without tokens out', () => {
    const rng = createRng(4);
    const x = Array.from({ length: 9 }, () => Array.from({ length: 3 }, () => rng.normal()));
    const W = Array.from({ length: 3 }, () => Array.from({ length: 4 }, () => rng.normal()));
    const expertOf = [0, 0, 1, 1, 1, 3, 3, 0, 3]; // expert 2 gets no token
    const chosen = tf.oneHot(tf.tensor1d(expertOf, 'int32'), 4).cast('float32') as tf.Tensor2D;
    const got = routingContrastiveLoss(tf.tensor2d(x), tf.tensor2d(W), chosen, 0.07).dataSync()[0]!;
    expect(got).toBeCloseTo(rclReference(x, W, expertOf, 0.07), 3);
    // One gradient step on the prototypes lowers it and moves each toward its tokens' mean.
    const Wv = tf.variable(tf.tensor2d(W));
    const before = rclReference(x, W, expertOf, 0.07);
    const g = tf.grad((k: tf.Tensor) => routingContrastiveLoss(tf.tensor2d(x), k as tf.Tensor2D, chosen, 0.07))(Wv);
    const W2 = tf.sub(Wv, tf.mul(0.01, g)).arraySync() as number[][];
    expect(rclReference(x, W2, expertOf, 0.07)).toBeLessThan(before);
    const mean0 = [0, 1, 2].map((i) => (x[0]![i]! + x[1]![i]! + x[7]![i]!) / 3);
    expect(cos(column(W2, 0), mean0)).toBeGreaterThan(cos(column(W, 0), mean0));
    // Expert 2 had no token: its prototype gets no gradient.
    expect(Math.max(...column(g.arraySync() as number[][], 2).map(Math.abs))).toBe(0);
  });

  it('trains the spirals example without the balance loss; the RCL is among the training losses', async () => {
    const l = layers.layer({ routing: { mode: 'prototype' } }, 4);
    const { report } = l.apply(tf.tensor2d(randomRows(32, 4, 3)), 8, { training: true });
    expect(report.losses?.map((x) => x.name)).toContain('rcl');
    const config = TrainConfig.parse({ space: spirals({ mode: 'prototype' }), data: { kind: 'spirals', samples: 600, seed: 1 }, strategy: 'plain', steps: 150, batchSize: 32, learningRate: 0.02, evalEvery: 150, checkpointEvery: 1000 });
    const net = buildSupernet(config.space, { seed: 2 });
    const losses: number[] = [];
    const loads: number[][] = [];
    let t = 0;
    const res = await train({ config, net, dataset: await loadDataset(config.data), now: () => (t += 10), snapshots: 0, sink: { metrics: (ps) => ps.forEach((p) => { losses.push(p.loss); p.moe?.forEach((m) => loads.push(m.load)); }), specialization: () => {}, checkpoint: () => {} } });
    expect(res.status).toBe('completed');
    const mean = (a: number[]) => a.reduce((s, v) => s + v, 0) / a.length;
    expect(mean(losses.slice(-20))).toBeLessThan(mean(losses.slice(0, 20)));
    console.log(`spirals, ProMoE prototypes top-1 + RCL (λ 1, τ 0.07), no balance loss, 150 steps: loss ${mean(losses.slice(0, 20)).toFixed(3)} → ${mean(losses.slice(-20)).toFixed(3)}, val accuracy ${res.final!.valAccuracy.toFixed(3)} (${res.final!.val.split}, n=${res.final!.val.n}, 95% CI ${res.final!.val.ci95.map((v) => v.toFixed(3)).join('–')}), last load ${JSON.stringify(loads.at(-1)!.map((v) => +v.toFixed(2)))}`);
    net.dispose();
  }, 120_000);

  it.each([
    ['largest', largestArch],
    ['smallest', smallestArch],
  ])('%s subnet: the graph and ONNX equal the supernet within 1e-4; tfjs refuses', async (_label, pick) => {
    const space = SearchSpace.parse(spirals({ mode: 'prototype', k: 2, scale: 3 }));
    const net = buildSupernet(space, { seed: 4 });
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
    await expect(exportedLogits(graph, x)).rejects.toThrow(/ProMoE/);
    // The lowering matters: read as a plain softmax router, the same graph computes something else.
    const plain = graph.ops.map((o) => (o.op === 'residual' ? { ...o, body: o.body.map((b) => (b.op === 'moe' ? { ...b, prototype: false } : b)) } : o));
    expect(maxDiff(runSubnetGraph({ ...graph, ops: plain }, x).dataSync())).toBeGreaterThan(1e-3);
    net.dispose();
  });
});

describe('ProMoE view data', () => {
  it('the specialization snapshot puts the prototypes and held-out tokens on the PCA plane', async () => {
    const { computeSpecialization } = await import('../../train/specialization.js');
    const { Specialization } = await import('../../protocol/protocol.js');
    const config = TrainConfig.parse({ space: spirals({ mode: 'prototype' }), data: { kind: 'spirals', samples: 400, seed: 1 }, steps: 1 });
    const net = buildSupernet(config.space, { seed: 2 });
    const ds = await loadDataset(config.data);
    const spec = await computeSpecialization(net, largestArch(config.space), ds, 0, { samples: 64, gridSize: 8, points: 10 });
    expect(Specialization.safeParse(spec).success).toBe(true);
    const plane = spec.layers[0]!.prototypePlane!;
    expect(plane.prototypes).toHaveLength(4);
    expect(plane.tokens).toHaveLength(Math.min(64, ds.val.n));
    expect(plane.explained).toBeGreaterThan(0);
    expect(plane.explained).toBeLessThanOrEqual(1 + 1e-9);
    // Tokens are coloured by the expert the layer routed them to.
    for (const t of plane.tokens) expect([0, 1, 2, 3]).toContain(t[2]);
    net.dispose();
  });
});
