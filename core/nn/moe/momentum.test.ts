/**
 * MomentumSMoE's heavy-ball update across MoE layers, against an independent computation: each layer's
 * update f_l from a twin layer without momentum (same weights), then p_l = μ p_{l−1} + γ f_l, x_{l+1} = x_l − p_l
 * in plain JS; momentum off is μ = 0 on the same weights; a small space trains with it.
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRng } from '../../space/rng.js';
import { MoEBlock } from '../../space/SearchSpace.js';
import { spiralsRun, spiralsWith } from '../../train/spiralsRun.js';
import { VariableStore } from '../init.js';
import { newForwardContext } from '../routers/router.js';
import { randomRows } from './moeLayerFixture.js';
import { MoELayer } from './MoELayer.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});
const store = new VariableStore();
afterAll(() => store.dispose());

type M = number[][];
const base = { type: 'moe', experts: 4, expertHidden: [8], activation: 'relu', routing: { mode: 'topk', k: 2 } };
const mu = 0.6;
const gamma = 0.8;
const d = 5;
/** Three momentum layers and their twins without momentum and without residual (their update f). */
const layers = [1, 2, 3].map((seed) => new MoELayer(`m${seed}`, MoEBlock.parse({ ...base, momentum: { mu, gamma } }), d, store, createRng(seed)));
const twins = [1, 2, 3].map((seed) => new MoELayer(`t${seed}`, MoEBlock.parse({ ...base, residual: false }), d, store, createRng(seed)));

function forward(x: M, active = true): M[] {
  return tf.tidy(() => {
    const ctx = newForwardContext();
    let h = tf.tensor2d(x);
    const outs: M[] = [];
    for (const l of layers) {
      l.momentumActive = active;
      h = l.apply(h, 8, { training: false }, ctx).y;
      outs.push(h.arraySync() as M);
    }
    layers.forEach((l) => (l.momentumActive = true));
    return outs;
  });
}
const f = (l: number, x: M) => tf.tidy(() => twins[l]!.apply(tf.tensor2d(x), 8, { training: false }).y.arraySync() as M);

describe('MomentumSMoE', () => {
  it('carries the heavy-ball buffer across layers: x_{l+1} = x_l − (μ p_{l−1} + γ f_l(x_l)) (vs plain JS)', () => {
    const x0 = randomRows(16, d, 2);
    const got = forward(x0);
    let x = x0;
    let p: M | null = null;
    got.forEach((out, l) => {
      const fl = f(l, x);
      p = fl.map((row, t) => row.map((v, j) => gamma * v + (p ? mu * p[t]![j]! : 0)));
      x = x.map((row, t) => row.map((v, j) => v - p![t]![j]!));
      out.flat().forEach((v, i) => expect(v).toBeCloseTo(x.flat()[i]!, 4));
    });
    // Without the carry (each layer from p = 0) layer 3 would differ.
    const x2 = got[1]!;
    const noCarry = x2.map((row, t) => row.map((v, j) => v - gamma * f(2, x2)[t]![j]!));
    expect(Math.max(...got[2]!.flat().map((v, i) => Math.abs(v - noCarry.flat()[i]!)))).toBeGreaterThan(1e-3);
  });

  it('with momentum off runs the same weights as μ = 0: x_{l+1} = x_l − γ f_l(x_l)', () => {
    const x0 = randomRows(16, d, 3);
    const off = forward(x0, false);
    let x = x0;
    off.forEach((out, l) => {
      const fl = f(l, x);
      x = x.map((row, t) => row.map((v, j) => v - gamma * fl[t]![j]!));
      out.flat().forEach((v, i) => expect(v).toBeCloseTo(x.flat()[i]!, 4));
    });
  });

  it('trains the spirals example with a two-layer momentum MoE stage: loss falls, accuracy beats chance', async () => {
    const { net, run } = spiralsRun(spiralsWith({ mode: 'topk', k: 2 }, { depth: [2], block: { momentum: {} } }), { steps: 300, learningRate: 0.005 });
    expect(net.moeLayers().map((l) => l.block.momentum)).toEqual([0, 1].map(() => ({ mu: 0.7, gamma: 1 })));
    const { res, points } = await run();
    expect(res.status).toBe('completed');
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const losses = points.map((p) => p.loss);
    expect(mean(losses.slice(-5))).toBeLessThan(mean(losses.slice(0, 5)));
    expect(res.final!.valAccuracy).toBeGreaterThan(0.4);
    console.log(`MomentumSMoE (μ 0.7, γ 1, 2 layers) spirals: val accuracy ${res.final!.valAccuracy.toFixed(3)} (${res.final!.val.split}, n=${res.final!.val.n}, 95% CI ${res.final!.val.ci95.map((v) => v.toFixed(3)).join('–')}), train loss ${mean(losses.slice(0, 5)).toFixed(3)} → ${mean(losses.slice(-5)).toFixed(3)}`);
    net.dispose();
  }, 300_000);
});
