/**
 * Auxiliary-loss-free balancing (DeepSeek-V3): the bias changes which experts are chosen and never the gates,
 * its update is b_i += u · sign(mean load − load_i) on FFN columns (checked against a plain-JS computation),
 * it moves the load toward balance, and the spirals example trains with it and without an aux loss.
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDataset } from '../../data/Dataset.js';
import { TrainConfig } from '../../protocol/protocol.js';
import { listExampleSpaces } from '../../space/exampleSpaces.js';
import type { SearchSpaceInput } from '../../space/SearchSpace.js';
import { TopKRouting } from '../../space/routing/topk.js';
import { routingMetrics } from '../../train/routingMetrics.js';
import { train } from '../../train/Trainer.js';
import { moeLayerFixture, randomRows, softmax as softmaxRow } from '../moe/moeLayerFixture.js';
import { buildSupernet } from '../Supernet.js';
import { lossFreeBiasStep, lossFreeBiasStepPlain } from './lossFreeBias.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const layers = moeLayerFixture({ activation: 'relu' });
afterAll(() => layers.dispose());

const topIdx = (row: number[], k: number) => row.map((v, i) => [v, i] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]).slice(0, k).map(([, i]) => i);

describe('aux-loss-free balancing bias', () => {
  it('the schema keeps it off unless set, and the editor shows its field', () => {
    expect(TopKRouting.parse({ mode: 'topk' })).toEqual({ mode: 'topk', k: 2 });
    expect(TopKRouting.parse({ mode: 'topk', biasUpdateRate: 0.001 }).biasUpdateRate).toBe(0.001);
    const l = layers.layer({ routing: { mode: 'topk', k: 1 } }, 4);
    expect(l.selectionBias).toBeNull();
  });

  it('updates b_i += u·sign(mean − c_i) on FFN columns only (tensor = plain reference = hand numbers)', () => {
    const columns = ['ffn', 'ffn', 'ffn', 'ffn', 'null'] as const;
    // 4 tokens, top-1: counts [3, 1, 0, 0 | null 0], FFN mean 1.
    const chosen = [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0];
    const u = 0.001;
    const b0 = [0.01, 0, 0, -0.02, 0.5];
    const plain = lossFreeBiasStepPlain(b0, chosen, 4, columns, u);
    expect(plain).toEqual([0.01 - u, 0, u, -0.02 + u, 0.5]);
    const t = lossFreeBiasStep(tf.tensor1d(b0), tf.tensor2d(chosen, [4, 5]), columns, u).arraySync();
    t.forEach((v, i) => expect(v).toBeCloseTo(plain[i]!, 7));
  });

  it('chooses by probs + bias but gates by the unbiased probabilities', () => {
    const d = 4;
    const T = 12;
    const l = layers.layer({ routing: { mode: 'topk', k: 2, biasUpdateRate: 0.001, gate: 'raw' }, residual: false }, d);
    const bias = [0, 0, 0, 0.3];
    l.selectionBias!.assign(tf.tensor1d(bias));
    const rows = randomRows(T, d, 7);
    const W = l.router.arraySync() as number[][];
    const x = tf.tensor2d(rows);
    // Inference: no update, so the bias above is what the choice saw.
    const { y } = l.apply(x, 8, { training: false });
    // Independent reference: logits x·W, softmax, top-2 of p + b, gate = p on the chosen slots.
    const ref = rows.map(() => new Array<number>(d).fill(0));
    let differs = 0;
    const experts = l.experts.map((e) => ({ w1: e.w1.arraySync() as number[][], b1: e.b1.arraySync() as number[], w2: e.w2.arraySync() as number[][], b2: e.b2.arraySync() as number[] }));
    rows.forEach((xr, t) => {
      const p = softmaxRow(W[0]!.map((_, s) => xr.reduce((a, v, i) => a + v * W[i]![s]!, 0)));
      const chosen = topIdx(p.map((v, s) => v + bias[s]!), 2);
      if (topIdx(p, 2).sort().join() !== [...chosen].sort().join()) differs++;
      for (const s of chosen) {
        const e = experts[s]!;
        const h = e.b1.map((b, j) => Math.max(0, b + xr.reduce((a, v, i) => a + v * e.w1[i]![j]!, 0)));
        const out = e.b2.map((b, o) => b + h.reduce((a, v, j) => a + v * e.w2[j]![o]!, 0));
        ref[t] = ref[t]!.map((v, o) => v + p[s]! * out[o]!);
      }
    });
    const got = y.arraySync() as number[][];
    got.forEach((row, t) => row.forEach((v, o) => expect(v).toBeCloseTo(ref[t]![o]!, 4)));
    // The bias mattered: some tokens' choice differs from the unbiased top-2 (else this proves nothing).
    expect(differs).toBeGreaterThan(0);
  });

  it('moves toward balance: a router that sends every token to expert 0 spreads out as the bias updates', () => {
    const d = 3;
    const T = 64;
    const measure = (u: number) => {
      const l = layers.layer({ experts: 4, routing: { mode: 'topk', k: 1, ...(u > 0 ? { biasUpdateRate: u } : {}) }, auxLossWeight: 0 }, d);
      // Feature 0 is a constant 1 with a router weight of 0.5 toward expert 0: most tokens go there.
      const rows = randomRows(T, d, 11).map((r) => [1, r[1]!, r[2]!]);
      l.router.assign(tf.tensor2d([[0.5, 0, 0, 0], [0.1, -0.1, 0.2, 0], [0, 0.2, -0.1, 0.1]]));
      const x = tf.tensor2d(rows);
      const cvs: number[] = [];
      for (let step = 0; step < 400; step++) {
        const { report } = l.apply(x, 8, { training: true });
        cvs.push(routingMetrics({ load: Array.from(report.load.dataSync()), dropped: 0, meanActive: 1 }).cv);
      }
      return { cvs, bias: l.selectionBias ? Array.from(l.selectionBias.dataSync()) : null };
    };
    const on = measure(0.001);
    const off = measure(0);
    expect(on.cvs[0]).toBeGreaterThan(1);
    expect(on.cvs[0]).toBeCloseTo(off.cvs[0]!, 9);
    // Expert 0 was overloaded: its bias went down, the others' up (every step moves each by ±u or 0).
    expect(on.bias![0]).toBeLessThan(0);
    for (const b of on.bias!.slice(1)) expect(b).toBeGreaterThan(0);
    const tail = (c: number[]) => c.slice(-100).reduce((a, b) => a + b, 0) / 100;
    expect(tail(on.cvs)).toBeLessThan(0.2);
    expect(tail(off.cvs)).toBeCloseTo(off.cvs[0]!, 9);
    console.log(`loss-free bias, 64 tokens, top-1 of 4, u=0.001: load CV ${on.cvs[0]!.toFixed(3)} → ${tail(on.cvs).toFixed(3)} (mean of last 100 of 400 steps; without the bias ${tail(off.cvs).toFixed(3)}); bias ${JSON.stringify(on.bias!.map((v) => +v.toFixed(3)))}`);
  });

  it('trains the spirals example without an aux loss at the paper rate u = 0.001', async () => {
    const base = listExampleSpaces().find((e) => e.id === 'spirals-moe')!.space;
    const space: SearchSpaceInput = {
      ...base,
      stages: base.stages.map((st) => (st.block.type === 'moe' ? { ...st, block: { ...st.block, auxLossWeight: 0, routing: { mode: 'topk', k: 2, biasUpdateRate: 0.001 } } } : st)),
    };
    const config = TrainConfig.parse({ space, data: { kind: 'spirals', samples: 800, seed: 1 }, strategy: 'plain', steps: 300, batchSize: 32, learningRate: 0.02, evalEvery: 150, checkpointEvery: 1000 });
    const ds = await loadDataset(config.data);
    const net = buildSupernet(config.space, { seed: 2 });
    const moe = net.moeLayers()[0]!;
    const losses: number[] = [];
    const cvs: number[] = [];
    let t = 0;
    const res = await train({
      config, net, dataset: ds, now: () => (t += 10), snapshots: 0,
      sink: { metrics: (ps) => ps.forEach((p) => { losses.push(p.loss); p.moe?.forEach((m) => cvs.push(m.cv!)); }), specialization: () => {}, checkpoint: () => {} },
    });
    expect(res.status).toBe('completed');
    const bias = Array.from(moe.selectionBias!.dataSync());
    // The bias moved (at most 300 · 0.001 per expert) and the loss fell.
    expect(Math.max(...bias.map(Math.abs))).toBeGreaterThan(0.01);
    expect(Math.max(...bias.map(Math.abs))).toBeLessThanOrEqual(0.3 + 1e-6);
    const mean = (a: number[]) => a.reduce((x, y) => x + y, 0) / a.length;
    expect(mean(losses.slice(-30))).toBeLessThan(mean(losses.slice(0, 30)));
    console.log(`spirals top-2, no aux loss, u=0.001, 300 steps: val accuracy ${res.final!.valAccuracy.toFixed(3)} (${res.final!.val.split}, n=${res.final!.val.n}, 95% CI ${res.final!.val.ci95.map((v) => v.toFixed(3)).join('–')}), load CV first/last 30 ${mean(cvs.slice(0, 30)).toFixed(3)}/${mean(cvs.slice(-30)).toFixed(3)}, bias ${JSON.stringify(bias.map((v) => +v.toFixed(3)))}`);
    net.dispose();
  }, 120_000);
});
