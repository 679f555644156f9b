/**
 * SCMoE against independent computations: the weak pass routes every token to its rank-r expert alone
 * (gate 1), the contrast is (1 + β)·strong − β·weak under the plausibility cutoff (plain JS), and the weak
 * pass of a top-2 supernet equals a top-1 renormalised twin with the same weights; on a trained model the
 * β sweep's β = 0 point is the model's own validation accuracy.
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { largestArch } from '../space/archCodec.js';
import { createRng } from '../space/rng.js';
import { SearchSpace } from '../space/SearchSpace.js';
import { evaluateArch } from '../train/evaluate.js';
import { selfContrastSweep } from '../train/selfContrastSweep.js';
import { spiralsRun, spiralsWith } from '../train/spiralsRun.js';
import { moeLayerFixture, randomRows } from './moe/moeLayerFixture.js';
import { contrastLogits, selfContrastLogits, weakLogits } from './selfContrast.js';
import { buildSupernet } from './Supernet.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});
const layers = moeLayerFixture({ activation: 'relu', routing: { mode: 'topk', k: 2 } });
afterAll(() => layers.dispose());
type M = number[][];

describe('SCMoE self-contrast', () => {
  it.each([0, 1])('the weak pass with rank %i sends each token to that-ranked expert alone, gate 1', (rank) => {
    const d = 5;
    const l = layers.layer({}, d, 2);
    l.dispatch = 'dense';
    const xs = randomRows(20, d, 6);
    const x = tf.tensor2d(xs);
    const probs = tf.softmax(tf.matMul(x, l.router.slice([0, 0], [d, 4]))).arraySync() as M;
    l.weakRanks = [rank];
    const y = tf.sub(l.apply(x, 8, { training: false }).y, x).arraySync() as M;
    l.weakRanks = null;
    const e = l.experts;
    const ffn = (i: number) => tf.add(tf.matMul(tf.relu(tf.add(tf.matMul(x, e[i]!.w1.slice([0, 0], [d, 8])), e[i]!.b1.slice(0, 8))), e[i]!.w2.slice([0, 0], [8, d])), e[i]!.b2.slice(0, d)).arraySync() as M;
    const outs = [0, 1, 2, 3].map(ffn);
    y.forEach((row, t) => {
      const order = [0, 1, 2, 3].sort((a, b) => probs[t]![b]! - probs[t]![a]! || a - b);
      row.forEach((v, j) => expect(v).toBeCloseTo(outs[order[rank]!]![t]![j]!, 4));
    });
  });

  it('contrasts (1 + β)·strong − β·weak and masks classes below log α + max strong (vs plain JS)', () => {
    const s = [[2, 1.9, -1, 0.5], [0, 0, 0, 3]];
    const w = [[1, 2.5, 0, 0.4], [1, -1, 0, 2]];
    const beta = 0.7;
    const alpha = 0.3;
    const got = contrastLogits(tf.tensor2d(s), tf.tensor2d(w), { beta, alpha }).arraySync() as M;
    s.forEach((row, t) => {
      const cut = Math.log(alpha) + Math.max(...row);
      row.forEach((v, j) => expect(got[t]![j]!).toBeCloseTo(v < cut ? -1e9 : (1 + beta) * v - beta * w[t]![j]!, 4));
    });
    // The contrast changes the winner of row 0 here (strong: class 0; contrasted: class 0 vs 1 at 2.7 vs 1.48).
    expect(got[0]!.indexOf(Math.max(...got[0]!))).toBe(0);
  });

  it("a top-2 supernet's weak pass equals its top-1 renormalised twin (same weights); SCMoE logits follow", () => {
    const space = SearchSpace.parse(spiralsWith({ mode: 'topk', k: 2 }));
    const twinSpace = SearchSpace.parse(spiralsWith({ mode: 'topk', k: 1, gate: 'renormalize' }));
    const net = buildSupernet(space, { seed: 5 });
    const twin = buildSupernet(twinSpace, { seed: 5 });
    const rng = createRng(3);
    const x = tf.tensor2d(Array.from({ length: 64 * 2 }, () => rng.normal()), [64, 2]);
    const arch = largestArch(space);
    const strong = net.apply(x, arch, { training: false }).logits;
    const weak = twin.apply(x, arch, { training: false }).logits;
    const mine = weakLogits(net, x, arch, [0]);
    expect(Math.max(...Array.from(tf.abs(tf.sub(mine, weak)).dataSync()))).toBeLessThan(1e-5);
    expect(Math.max(...Array.from(tf.abs(tf.sub(strong, weak)).dataSync()))).toBeGreaterThan(1e-3);
    const got = selfContrastLogits(net, x, arch, { beta: 0.5, alpha: 0.1, weakRanks: [0] }).arraySync() as M;
    const s = strong.arraySync() as M;
    const w = weak.arraySync() as M;
    s.forEach((row, t) => {
      const cut = Math.log(0.1) + Math.max(...row);
      row.forEach((v, j) => expect(got[t]![j]!).toBeCloseTo(v < cut ? -1e9 : 1.5 * v - 0.5 * w[t]![j]!, 3));
    });
    // The layers are back to their own routing.
    expect(net.moeLayers().every((l) => l.weakRanks === null)).toBe(true);
    net.dispose();
    twin.dispose();
  });

  it('sweeps β on a trained spirals model: β = 0 is its own validation accuracy', async () => {
    const { net, run } = spiralsRun(spiralsWith({ mode: 'topk', k: 2 }), { steps: 300, learningRate: 0.005 });
    const { res, dataset } = await run();
    const arch = res.evalArch ?? largestArch(net.space);
    const sweep = await selfContrastSweep(net, arch, { split: dataset.val, name: 'val', inputShape: [2] });
    const own = await evaluateArch(net, arch, dataset.val, { inputShape: [2] });
    expect(sweep[0]!.beta).toBe(0);
    expect(sweep[0]!.accuracy).toBeCloseTo(own.accuracy, 6);
    for (const p of sweep) {
      expect(p.n).toBe(dataset.val.n);
      expect(p.ci95[0]).toBeLessThanOrEqual(p.accuracy);
      expect(p.ci95[1]).toBeGreaterThanOrEqual(p.accuracy);
    }
    console.log(`SCMoE on spirals (top-2 strong, rank-0 weak, α 0.1; val n=${sweep[0]!.n}): ${sweep.map((p) => `β ${p.beta}: ${p.accuracy.toFixed(3)} [${p.ci95.map((v) => v.toFixed(3)).join('–')}]`).join(', ')}`);
    net.dispose();
  }, 300_000);
});
