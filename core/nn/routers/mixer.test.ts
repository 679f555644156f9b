/**
 * MixER's mechanisms, each against an independent plain-JS computation: routing is the nearest centroid,
 * the centroids take the K-means / EMA step on the features routed to them (and only while training),
 * no gradient reaches them and the router has no trainable gate; the spirals example trains with it.
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { largestArch } from '../../space/archCodec.js';
import { SearchSpace } from '../../space/SearchSpace.js';
import { spiralsRun, spiralsWith } from '../../train/spiralsRun.js';
import { MoELayer } from '../moe/MoELayer.js';
import { moeLayerFixture, randomRows } from '../moe/moeLayerFixture.js';
import { buildSupernet } from '../Supernet.js';
import { routers } from './registry.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const layers = moeLayerFixture({ activation: 'relu', routing: { mode: 'mixer' } });
afterAll(() => layers.dispose());
const layer = layers.layer;

/** Centroids as rows [S][dMax] from the kernel [dMax, S]. */
const centroidsOf = (l: MoELayer) => {
  const w = l.router.arraySync() as number[][];
  return w[0]!.map((_, s) => w.map((row) => row[s]!));
};
const sqDist = (a: number[], b: number[]) => a.reduce((s, v, i) => s + (v - b[i]!) ** 2, 0);
const nearest = (x: number[], cs: number[][]) => cs.map((c) => sqDist(x, c)).reduce((best, v, i, all) => (v < all[best]! ? i : best), 0);

/** The spirals MoE example with its MoE stage routed by MixER. */
const mixerSpirals = () => spiralsWith({ mode: 'mixer' });

describe('MixER router', () => {
  it('routes each token to its nearest centroid, with gate 1 (the output is x + that expert alone)', () => {
    const l = layer({}, 5);
    const xs = randomRows(40, 5, 3);
    const cs = centroidsOf(l);
    const { report } = l.apply(tf.tensor2d(xs), 8, { training: false });
    const chosen = report.topExpert.arraySync() as number[];
    expect(chosen).toEqual(xs.map((x) => nearest(x, cs)));
    const mask = report.mask.arraySync() as number[][];
    for (const row of mask) expect(row.reduce((a, b) => a + b, 0)).toBe(1); // top-1
    // Gate 1: y − x equals the chosen expert's FFN output, unscaled.
    l.dispatch = 'dense';
    const x = tf.tensor2d(xs);
    const y = l.apply(x, 8, { training: false }).y;
    const e = l.experts;
    const ffn = (i: number) => tf.add(tf.matMul(tf.relu(tf.add(tf.matMul(x, e[i]!.w1.slice([0, 0], [5, 8])), e[i]!.b1.slice(0, 8))), e[i]!.w2.slice([0, 0], [8, 5])), e[i]!.b2.slice(0, 5));
    const outs = [0, 1, 2, 3].map((i) => ffn(i).arraySync() as number[][]);
    const got = tf.sub(y, x).arraySync() as number[][];
    got.forEach((row, t) => row.forEach((v, j) => expect(v).toBeCloseTo(outs[chosen[t]!]![t]![j]!, 5)));
  });

  it('moves each centroid by the EMA / K-means step on the features routed to it, and only while training', () => {
    const decay = 0.7;
    // Input width 3 of a dMax 5 layer: only the first 3 coordinates of each centroid move.
    const l = layer({ routing: { mode: 'mixer', decay, restartDead: false } }, 5, 2);
    // Spread the centroids so several of them win tokens.
    l.router.assign(tf.tensor2d(randomRows(5, 4, 9, 1.5)));
    const before = centroidsOf(l);
    const xs = randomRows(30, 3, 4);
    l.apply(tf.tensor2d(xs), 8, { training: false });
    expect(centroidsOf(l)).toEqual(before);

    l.apply(tf.tensor2d(xs), 8, { training: true });
    const after = centroidsOf(l);
    const assigned = xs.map((x) => nearest(x, before.map((c) => c.slice(0, 3))));
    let moved = 0;
    before.forEach((c, s) => {
      const mine = xs.filter((_, t) => assigned[t] === s);
      const expected = c.map((v, i) => (mine.length === 0 || i >= 3 ? v : decay * v + (1 - decay) * (mine.reduce((a, x) => a + x[i]!, 0) / mine.length)));
      expected.forEach((v, i) => expect(after[s]![i]!).toBeCloseTo(v, 5));
      if (mine.length > 0) moved++;
    });
    expect(moved).toBeGreaterThan(1);
  });

  it('restarts a centroid no token chose on the largest cluster token farthest from its centroid (the rest take the EMA step)', () => {
    const decay = 0.5;
    const l = layer({ experts: 3, routing: { mode: 'mixer', decay } }, 2, 3);
    // Centroid 2 sits far from every token: dead.
    l.router.assign(tf.tensor2d([[-1, 1, 50], [0, 0, 50]]));
    const xs = randomRows(20, 2, 6);
    const before = centroidsOf(l);
    l.apply(tf.tensor2d(xs), 8, { training: true });
    const after = centroidsOf(l);
    const assigned = xs.map((x) => nearest(x, before));
    expect(assigned).not.toContain(2);
    const sizes = [0, 1].map((s) => assigned.filter((a) => a === s).length);
    const largest = sizes[0]! >= sizes[1]! ? 0 : 1;
    const far = xs.map((x, t) => (assigned[t] === largest ? sqDist(x, before[largest]!) : -1));
    const farthest = far.indexOf(Math.max(...far));
    after[2]!.forEach((v, i) => expect(v).toBeCloseTo(xs[farthest]![i]!, 5));
    for (const s of [0, 1]) {
      const mine = xs.filter((_, t) => assigned[t] === s);
      before[s]!.forEach((v, i) => expect(after[s]![i]!).toBeCloseTo(decay * v + (1 - decay) * (mine.reduce((a, x) => a + x[i]!, 0) / mine.length), 5));
    }
  });

  it('has no trainable gate and no gradient reaches the centroids', () => {
    const space = SearchSpace.parse(mixerSpirals());
    const net = buildSupernet(space, { seed: 1 });
    const moe = net.moeLayers()[0]!;
    expect(routers.mixer.trainsKernel).toBe(false);
    expect(moe.router.trainable).toBe(false);
    expect(net.trainableVariables()).not.toContain(moe.router);
    expect(net.trainableVariables().some((v) => v.name.includes('router'))).toBe(false);
    // d loss / d centroids with the full objective (task loss + balance loss), the centroids a variable of the list.
    const x = tf.tensor2d(randomRows(32, 2, 5));
    const labels = tf.oneHot(tf.tensor1d(Array.from({ length: 32 }, (_, i) => i % 4), 'int32'), 4);
    const arch = largestArch(space);
    const loss = () => {
      const out = net.apply(x, arch, { training: false });
      return tf.add(tf.losses.softmaxCrossEntropy(labels, out.logits), out.auxLoss) as tf.Scalar;
    };
    // variableGrads skips non-trainable variables: mark the centroids trainable for this measurement only.
    moe.router.trainable = true;
    const { grads } = tf.variableGrads(loss, [moe.router, moe.experts[0]!.w1]);
    moe.router.trainable = false;
    const g = grads[moe.router.name];
    // No path at all (tfjs then returns no gradient for it) or a zero one; without the detach it is ~4e-3.
    expect(g ? Math.max(...Array.from(g.dataSync()).map(Math.abs)) : 0).toBe(0);
    // The experts still learn (the objective is connected to the layer).
    expect(Math.max(...Array.from(grads[moe.experts[0]!.w1.name]!.dataSync()).map(Math.abs))).toBeGreaterThan(0);
  });

  it("trains the spirals example with routing 'mixer': the centroids move, ExpertLoad is reported, accuracy beats chance", async () => {
    const { net, run } = spiralsRun(mixerSpirals(), { steps: 400, learningRate: 0.02 });
    const moe = net.moeLayers()[0]!;
    const before = moe.router.arraySync() as number[][];
    const { res, points } = await run();
    const loads = points.flatMap((p) => p.moe?.map((m) => m.load) ?? []);
    expect(res.status).toBe('completed');
    const after = moe.router.arraySync() as number[][];
    const shift = before.flat().reduce((m, v, i) => Math.max(m, Math.abs(v - after.flat()[i]!)), 0);
    expect(shift).toBeGreaterThan(0.05);
    expect(loads.length).toBeGreaterThan(0);
    for (const l of loads) expect(l.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
    // The K-means gate splits the data between experts (no collapse onto one).
    expect(Math.max(...loads.at(-1)!)).toBeLessThan(0.9);
    // 4 spiral arms: chance is 0.25.
    expect(res.final!.valAccuracy).toBeGreaterThan(0.4);
    console.log(`MixER spirals: val accuracy ${res.final!.valAccuracy.toFixed(3)} (${res.final!.val.split}, n=${res.final!.val.n}, 95% CI ${res.final!.val.ci95.map((v) => v.toFixed(3)).join('–')}), max centroid shift ${shift.toFixed(3)}, last load ${JSON.stringify(loads.at(-1)!.map((v) => +v.toFixed(3)))}`);
    net.dispose();
  }, 120_000);
});
