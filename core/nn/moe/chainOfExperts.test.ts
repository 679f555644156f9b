/**
 * Chain-of-Experts (Wang et al., 2025): two passes over the same experts, each routed by its own router on
 * the previous pass's output, with the inner residual — against an independent plain-JS computation of
 * both passes; one report per pass; a small space trains with it (both routers learn).
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spiralsRun, spiralsWith } from '../../train/spiralsRun.js';
import { moeLayerFixture, randomRows } from './moeLayerFixture.js';
import type { MoELayer } from './MoELayer.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});
const layers = moeLayerFixture({ activation: 'relu', routing: { mode: 'topk', k: 2 }, iterations: 2 });
afterAll(() => layers.dispose());

type M = number[][];
const matmul = (a: M, b: M): M => a.map((row) => b[0]!.map((_, j) => row.reduce((s, v, k) => s + v * b[k]![j]!, 0)));

/** One pass in plain JS: x + Σ over the top-2 of softmax(x·W) of the renormalised gate × ReLU-FFN expert. */
function passJs(l: MoELayer, x: M, W: M, d: number, h: number): { y: M; top: number[][] } {
  const E = l.experts.length;
  const w = l.experts.map((e) => ({
    w1: (e.w1.arraySync() as M).slice(0, d).map((r) => r.slice(0, h)),
    b1: (e.b1.arraySync() as number[]).slice(0, h),
    w2: (e.w2.arraySync() as M).slice(0, h).map((r) => r.slice(0, d)),
    b2: (e.b2.arraySync() as number[]).slice(0, d),
  }));
  const logits = matmul(x, W.slice(0, d));
  const top: number[][] = [];
  const y = x.map((row, t) => {
    const order = [...Array(E).keys()].sort((a, b) => logits[t]![b]! - logits[t]![a]! || a - b).slice(0, 2);
    top.push(order);
    // Renormalised over the top 2: exp(l_i) / Σ_top exp(l_j).
    const z = order.map((i) => Math.exp(logits[t]![i]!));
    const out = [...row];
    order.forEach((i, j) => {
      const hid = w[i]!.b1.map((b, u) => Math.max(0, b + row.reduce((s, v, k) => s + v * w[i]!.w1[k]![u]!, 0)));
      for (let c = 0; c < d; c++) out[c]! += (z[j]! / (z[0]! + z[1]!)) * (w[i]!.b2[c]! + hid.reduce((s, v, u) => s + v * w[i]!.w2[u]![c]!, 0));
    });
    return out;
  });
  return { y, top };
}

describe('Chain-of-Experts', () => {
  it('runs two residual passes over the same experts, pass 2 routed by its own router on pass 1 output (vs plain JS)', () => {
    const d = 5;
    const l = layers.layer({}, d, 3);
    expect(l.iterationRouters).toHaveLength(1);
    expect(l.routerAt(1)).not.toBe(l.router);
    // Confident, different routers so the passes choose differently.
    l.router.assign(tf.mul(l.router, 5));
    l.iterationRouters[0]!.assign(tf.mul(l.iterationRouters[0]!, 5));
    const xs = randomRows(24, d, 4);
    const { y, reports } = l.apply(tf.tensor2d(xs), 8, { training: false });
    const p1 = passJs(l, xs, l.router.arraySync() as M, d, 8);
    const p2 = passJs(l, p1.y, l.iterationRouters[0]!.arraySync() as M, d, 8);
    (y.arraySync() as M).flat().forEach((v, i) => expect(v).toBeCloseTo(p2.y.flat()[i]!, 4));
    // One report per pass, each with that pass's choices.
    expect(reports.map((r) => r.layer)).toEqual(['m', 'm.it2']);
    [p1, p2].forEach((p, k) => {
      const mask = reports[k]!.mask.arraySync() as M;
      p.top.forEach((top, t) => expect(mask[t]!.flatMap((v, i) => (v ? [i] : [])).sort()).toEqual([...top].sort()));
    });
    // The passes route differently (the second router and the refined input matter).
    expect(p1.top.some((top, t) => top.join() !== p2.top[t]!.join())).toBe(true);
    // Both passes' losses reach the objective through the first report.
    expect(reports[0]!.losses!.filter((x) => x.name === 'balance')).toHaveLength(2);
  });

  it('counts a router per iteration and the experts once; FLOPs are twice a single pass', () => {
    const one = layers.layer({ iterations: 1 }, 6, 5);
    const two = layers.layer({}, 6, 5);
    expect(two.countParams(6, 8) - one.countParams(6, 8)).toBe(6 * 4);
    expect(two.countFlops(6, 8)).toBe(2 * one.countFlops(6, 8));
  });

  it('trains the spirals example with two iterations: loss falls, both routers learn, accuracy beats chance', async () => {
    const { net, run } = spiralsRun(spiralsWith({ mode: 'topk', k: 2 }, { block: { iterations: 2 } }), { steps: 400, learningRate: 0.005 });
    const moe = net.moeLayers()[0]!;
    const before = [moe.router, moe.iterationRouters[0]!].map((v) => v.dataSync().slice());
    const { res, points } = await run();
    expect(res.status).toBe('completed');
    [moe.router, moe.iterationRouters[0]!].forEach((v, i) => expect(Math.max(...Array.from(v.dataSync()).map((a, j) => Math.abs(a - before[i]![j]!)))).toBeGreaterThan(1e-3));
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const losses = points.map((p) => p.loss);
    expect(mean(losses.slice(-5))).toBeLessThan(mean(losses.slice(0, 5)));
    // Each pass reports its own load (the per-iteration heatmaps).
    expect(new Set(points.flatMap((p) => p.moe?.map((m) => m.layer) ?? []))).toEqual(new Set(['moe.b0', 'moe.b0.it2']));
    expect(res.final!.valAccuracy).toBeGreaterThan(0.4);
    console.log(`CoE (C=2, top-2) spirals: val accuracy ${res.final!.valAccuracy.toFixed(3)} (${res.final!.val.split}, n=${res.final!.val.n}, 95% CI ${res.final!.val.ci95.map((v) => v.toFixed(3)).join('–')}), train loss ${mean(losses.slice(0, 5)).toFixed(3)} → ${mean(losses.slice(-5)).toFixed(3)}`);
    net.dispose();
  }, 300_000);
});
