/**
 * Mixture-of-Supernets (layer-wise; Jawahar et al., 2024): a dense block's weights are W(a) = Σ_k α_k(a) W_k,
 * α = softmax(W₂ ReLU(W₁ a + b₁) + b₂) on the architecture features a. Checked against a plain-JS forward
 * (features, router, mixture, slicing), with different architectures getting different α; gradients reach
 * every set and the router; the spirals space trains with it; exported subnets (tfjs, ONNX) equal the
 * supernet within 1e-4 and hold only the mixed weights.
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportDiffs } from '../../export/exportCheck.js';
import { archFeatureLabels, archFeatures } from '../../space/archFeatures.js';
import { largestArch, smallestArch } from '../../space/archCodec.js';
import { createRng } from '../../space/rng.js';
import { SearchSpace, type Arch, type SearchSpaceInput } from '../../space/SearchSpace.js';
import { spiralsRun, spiralsWith } from '../../train/spiralsRun.js';
import { softmax } from '../moe/moeLayerFixture.js';
import { buildSupernet } from '../Supernet.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const space = SearchSpace.parse({
  version: 1,
  name: 'MoS',
  input: { kind: 'vector', dim: 3 },
  numClasses: 2,
  stages: [
    { id: 'stem', depth: [1], block: { type: 'dense', width: [4, 6], activation: 'relu', archMixture: { sets: 3, hidden: 5 } } },
    { id: 'mid', depth: [1], block: { type: 'dense', width: [2, 4, 6], activation: 'relu' } },
  ],
});
const net = buildSupernet(space, { seed: 3 });
afterAll(() => net.dispose());
const arch = (stem: number, mid: number): Arch => ({ stages: [{ depth: 1, blocks: [{ op: 'dense', width: stem }] }, { depth: 1, blocks: [{ op: 'dense', width: mid }] }] });

type M = number[][];
const v = (name: string) => net.namedVariables().get(name)!.arraySync() as number[] & M;
const matVec = (x: number[], W: M, cols: number, bias: number[]) => Array.from({ length: cols }, (_, j) => x.reduce((s, xi, i) => s + xi * W[i]![j]!, bias[j]!));
const relu = (z: number[]) => z.map((x) => Math.max(0, x));

/** Plain JS: the features by hand, α from the router's variables, W(a) = Σ α_k W_k sliced, then mid and head. */
function reference(x: number[], stem: number, mid: number, only?: number) {
  const a = [(stem - 4) / 2, (mid - 2) / 4];
  const h = relu(matVec(a, v('stem.b0.dense.mos.w1'), 5, v('stem.b0.dense.mos.b1')));
  const alpha = softmax(matVec(h, v('stem.b0.dense.mos.w2'), 3, v('stem.b0.dense.mos.b2')));
  const sets = ['', '.set2', '.set3'].map((s) => ({ W: v(`stem.b0.dense.kernel${s}`), b: v(`stem.b0.dense.bias${s}`) }));
  const weight = (k: number) => (only === undefined ? alpha[k]! : k === only ? 1 : 0);
  const W = Array.from({ length: 3 }, (_, i) => Array.from({ length: stem }, (_, j) => sets.reduce((s, set, k) => s + weight(k) * set.W[i]![j]!, 0)));
  const b = Array.from({ length: stem }, (_, j) => sets.reduce((s, set, k) => s + weight(k) * set.b[j]!, 0));
  const y1 = relu(matVec(x, W, stem, b));
  const y2 = relu(matVec(y1, v('mid.b0.dense.kernel'), mid, v('mid.b0.dense.bias')));
  return { alpha, logits: matVec(y2, v('head.kernel'), 2, v('head.bias')) };
}

describe('Mixture-of-Supernets (architecture-routed weights)', () => {
  it('features: one per position with a choice, min-max normalised values', () => {
    expect(archFeatureLabels(space)).toEqual(['stem.b0.width', 'mid.b0.width']);
    expect(archFeatures(space, arch(6, 4))).toEqual([1, 0.5]);
    expect(archFeatures(space, arch(4, 2))).toEqual([0, 0]);
  });

  it('the effective weight is Σ α_k(arch) W_k (plain JS), and different archs get different α', () => {
    const rows = Array.from({ length: 5 }, (_, t) => [Math.sin(t), Math.cos(2 * t), 0.5 - t / 5]);
    const x = tf.tensor2d(rows);
    const alphas: number[][] = [];
    for (const [stem, mid] of [[4, 2], [6, 6], [4, 6]] as const) {
      const got = net.apply(x, arch(stem, mid), { training: false }).logits.arraySync() as M;
      rows.forEach((r, t) => {
        const ref = reference(r, stem, mid);
        ref.logits.forEach((val, j) => expect(got[t]![j]!).toBeCloseTo(val, 5));
        if (t === 0) alphas.push(ref.alpha);
      });
      // The block's own report of α equals the plain-JS one.
      const block = net.blocks[0]![0]! as unknown as { mixingWeights(a: readonly number[]): number[] | null };
      block.mixingWeights(archFeatures(space, arch(stem, mid)))!.forEach((a, k) => expect(a).toBeCloseTo(alphas.at(-1)![k]!, 6));
      // Removing the mixture (set 1 alone) computes something else.
      const plain = reference(rows[0]!, stem, mid, 0).logits;
      expect(Math.max(...plain.map((p, j) => Math.abs(p - got[0]![j]!)))).toBeGreaterThan(1e-3);
    }
    const spread = (i: number, j: number) => Math.max(...alphas[i]!.map((a, k) => Math.abs(a - alphas[j]![k]!)));
    expect(spread(0, 1)).toBeGreaterThan(1e-3);
    expect(spread(0, 2)).toBeGreaterThan(1e-3);
  });

  it('gradients reach every weight set and the router', () => {
    const x = tf.tensor2d([[1, -0.5, 0.25], [0.3, 0.8, -1]]);
    const names = ['stem.b0.dense.kernel', 'stem.b0.dense.kernel.set2', 'stem.b0.dense.kernel.set3', 'stem.b0.dense.mos.w1', 'stem.b0.dense.mos.w2'];
    const vars = names.map((n) => net.namedVariables().get(n)!);
    const { grads } = tf.variableGrads(() => tf.sum(tf.square(net.apply(x, arch(6, 4), { training: true }).logits)) as tf.Scalar, vars);
    vars.forEach((v, i) => expect(Math.max(...Array.from(grads[v.name]!.dataSync()).map(Math.abs)), names[i]).toBeGreaterThan(0));
  });

  it('exports (tfjs and ONNX) equal the supernet within 1e-4 and hold only the mixed weights', async () => {
    const x = tf.tensor2d(Array.from({ length: 8 * 3 }, (_, i) => Math.sin(i)), [8, 3]);
    for (const a of [arch(4, 2), arch(6, 6)]) {
      const r = await exportDiffs(net, a, x);
      for (const d of Object.values(r.diff)) expect(d).toBeLessThan(1e-4);
      // d·w + w for the stem: no router, no other sets.
      const stem = a.stages[0]!.blocks[0]!.width!;
      const mid = a.stages[1]!.blocks[0]!.width!;
      expect(r.params.graph).toBe(3 * stem + stem + stem * mid + mid + mid * 2 + 2);
      expect(r.params.supernet).toBe(r.params.graph);
    }
  });

  it('trains on spirals (sandwich) with mixed FFN weights in the MoE space stem', async () => {
    const s: SearchSpaceInput = spiralsWith({ mode: 'topk', k: 2 });
    s.stages = s.stages.map((st) => (st.block.type === 'dense' ? { ...st, block: { ...st.block, archMixture: { sets: 2, hidden: 128 } } } : st)) as SearchSpaceInput['stages'];
    const { net: trained, run } = spiralsRun(s, { steps: 150, learningRate: 0.005, strategy: 'sandwich' });
    const { res, points } = await run();
    const mean = (a: number[]) => a.reduce((t, x) => t + x, 0) / a.length;
    const losses = points.map((p) => p.loss);
    expect(mean(losses.slice(-20))).toBeLessThan(mean(losses.slice(0, 20)));
    const sp = trained.space;
    const block = trained.blocks[0]![0]! as unknown as { mixingWeights(a: readonly number[]): number[] | null };
    const [lo, hi] = [smallestArch(sp), largestArch(sp)].map((a) => block.mixingWeights(archFeatures(sp, a))!);
    console.log(`spirals, Mixture-of-Supernets stem (2 sets, router hidden 128), sandwich 150 steps: loss ${mean(losses.slice(0, 20)).toFixed(3)} → ${mean(losses.slice(-20)).toFixed(3)}, val accuracy ${res.final!.valAccuracy.toFixed(3)} (${res.final!.val.split}, n=${res.final!.val.n}, 95% CI ${res.final!.val.ci95.map((x) => x.toFixed(3)).join('–')}); α smallest ${lo.map((x) => x.toFixed(3)).join('/')}, largest ${hi.map((x) => x.toFixed(3)).join('/')}`);
    // Different architectures keep different mixtures (at lr 0.02 the router saturates to one set for every arch).
    expect(Math.abs(lo[0]! - hi[0]!)).toBeGreaterThan(0.01);
    const rng = createRng(2);
    const x = tf.tensor2d(Array.from({ length: 16 * 2 }, () => rng.normal()), [16, 2]);
    const r = await exportDiffs(trained, largestArch(sp), x);
    for (const d of Object.values(r.diff)) expect(d).toBeLessThan(1e-4);
    trained.dispose();
  }, 180_000);
});
