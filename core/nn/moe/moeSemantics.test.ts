/**
 * MoE semantics checked against each paper, every number against plain-JS arithmetic written here (not
 * the code under test): gate combination, capacity and its priority, AdaMoE / MoE++ experts, gating
 * residuals, z-loss, jitter, the τ-weighted balance loss, the top-p rule and the FLOPs a token runs.
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gatingMask } from '../graph/evaluate.js';
import { MoEBlock } from '../../space/SearchSpace.js';
import { MoELayer, type MoEForwardContext } from './MoELayer.js';
import { moeLayerFixture, randomRows } from './moeLayerFixture.js';
import { gateCombination, topPMask, topPMaskTensor } from './routers.js';
import { newForwardContext } from '../routers/router.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const layers = moeLayerFixture({ activation: 'relu' });
afterAll(() => layers.dispose());
const layer = layers.layer;

const read = (t: tf.Tensor) => t.arraySync() as any;
const mat = (t: tf.Tensor) => read(t) as number[][];
const vec = (t: tf.Tensor) => read(t) as number[];


// Plain-JS math for the independent checks.
const dot = (a: number[], b: number[]) => a.reduce((s, v, i) => s + v * b[i]!, 0);
const matVec = (x: number[], w: number[][]) => w[0]!.map((_, j) => x.reduce((s, xi, i) => s + xi * w[i]![j]!, 0));
const softmax = (z: number[]) => {
  const m = Math.max(...z);
  const e = z.map((v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
};
const argmax = (z: number[]) => z.reduce((best, v, i) => (v > z[best]! ? i : best), 0);

/** y = relu(x·w1 + b1)·w2 + b2 for one token, from the layer's variables. */
function ffnJs(l: MoELayer, e: number, x: number[]): number[] {
  const w1 = mat(l.experts[e]!.w1);
  const b1 = vec(l.experts[e]!.b1);
  const w2 = mat(l.experts[e]!.w2);
  const b2 = vec(l.experts[e]!.b2);
  const h = matVec(x, w1).map((v, j) => Math.max(0, v + b1[j]!));
  return matVec(h, w2).map((v, j) => v + b2[j]!);
}

describe('gate combination (raw vs renormalised)', () => {
  it('defaults follow each paper: top-1, fine-grained, top-p → raw; top-2 → renormalise', () => {
    const b = (x: Record<string, unknown>) => MoEBlock.parse({ type: 'moe', experts: 4, expertHidden: [8], ...x });
    expect(gateCombination(b({ routing: { mode: 'topk', k: 1 } }))).toBe('raw'); // Switch, AdaMoE k=1
    expect(gateCombination(b({ routing: { mode: 'topk', k: 2 } }))).toBe('renormalize'); // GShard, Mixtral
    expect(gateCombination(b({ routing: { mode: 'topk', k: 2 }, segments: 2 }))).toBe('raw'); // DeepSeekMoE v1
    expect(gateCombination(b({ routing: { mode: 'topp', p: 0.5 } }))).toBe('raw');
    expect(gateCombination(b({ routing: { mode: 'topk', k: 2, gate: 'raw' } }))).toBe('raw');
  });

  /** Router gradient of L = Σ_t ⟨y_t, c_t⟩ for a top-1 layer, by tf.grad and by hand. */
  function top1RouterGradient(gate: 'raw' | 'renormalize') {
    const d = 3;
    const S = 4;
    const l = layer({ routing: { mode: 'topk', k: 1, gate } }, d, 2);
    const xs = randomRows(6, d, 4);
    const cs = randomRows(6, d, 5);
    const x = tf.tensor2d(xs);
    const c = tf.tensor2d(cs);
    const { grads } = tf.variableGrads(() => tf.sum(tf.mul(l.apply(x, 8, { training: true }).y, c)) as tf.Scalar, [l.router]);
    const g = mat(grads[l.router.name]!);
    // By hand: y_t = x_t + gate·FFN_e*(x_t); with the raw gate p_e*, dL/dz_s = ⟨FFN_e*(x_t), c_t⟩ · p_e*·(δ_s,e* − p_s).
    const R = mat(l.router);
    const want = Array.from({ length: d }, () => new Array<number>(S).fill(0));
    xs.forEach((xt, t) => {
      const p = softmax(matVec(xt, R));
      const e = argmax(p);
      const gt = dot(ffnJs(l, e, xt), cs[t]!);
      for (let s = 0; s < S; s++) {
        const dz = gate === 'raw' ? gt * p[e]! * ((s === e ? 1 : 0) - p[s]!) : 0;
        for (let i = 0; i < d; i++) want[i]![s]! += xt[i]! * dz;
      }
    });
    const norm = (m: number[][]) => Math.sqrt(m.flat().reduce((a, v) => a + v * v, 0));
    return { got: g, want, norm: norm(g), wantNorm: norm(want) };
  }

  it('top-1 with raw gates: the router gets the task-loss gradient a hand computation gives', () => {
    const raw = top1RouterGradient('raw');
    raw.got.forEach((row, i) => row.forEach((v, s) => expect(v).toBeCloseTo(raw.want[i]![s]!, 5)));
    // measured: ‖∂L/∂router‖ = 0.879 with raw gates (hand computation 0.879); renormalised top-1, the old
    // behaviour, gives 1.8e-7: its gate is ≡ 1, so only rounding reaches the router
    expect(raw.norm).toBeGreaterThan(0.05);
    const renorm = top1RouterGradient('renormalize');
    expect(renorm.norm).toBeLessThan(1e-6);
  });
});

describe('capacity', () => {
  it('is ceil(C · T · k / real experts): a non-integer C, null slots not counted', () => {
    // Every token prefers expert 0; T = 10, k = 1, E = 4, C = 1.3: C·T·k/E = 3.25 → ceil 4 (floor would be 3;
    // dividing by all 8 slots would give ceil(1.625) = 2).
    const T = 10;
    const want = Math.ceil((1.3 * T * 1) / 4);
    expect(want).toBe(4);
    for (const nullExperts of [0, 4]) {
      const l = layer({ routing: { mode: 'topk', k: 1 }, capacityFactor: 1.3, nullExperts }, 2);
      const S = 4 + nullExperts;
      l.router.assign(tf.tensor2d([Array.from({ length: S }, (_, s) => (s === 0 ? 9 : 0)), new Array<number>(S).fill(0)]));
      const x = tf.concat([tf.ones([T, 1]), tf.tensor2d(randomRows(T, 1, 9))], 1) as tf.Tensor2D;
      const { report } = l.apply(x, 8, { training: true });
      expect(l.lastFfnTokens[0]).toBe(want);
      expect(read(report.dropped)).toBeCloseTo((T - want) / T, 6);
    }
  });

  it("priority 'rank' fills first choices before second choices; 'token' goes in token order", () => {
    // Tokens 0, 1 (x = [1, 0]) rank e1 > e0 > e2; tokens 2, 3 (x = [0, 1]) rank e0 > e2 > e1. Top-2 over 3
    // experts with C = 0.75: capacity ceil(0.75 · 4 · 2 / 3) = 2. Expert 0 is wanted by all four tokens —
    // second choice of tokens 0, 1, first choice of tokens 2, 3.
    const masks: Record<string, number[][]> = {};
    for (const capacityPriority of ['rank', 'token'] as const) {
      const l = layer({ experts: 3, routing: { mode: 'topk', k: 2 }, capacityFactor: 0.75, capacityPriority }, 2);
      l.router.assign(tf.tensor2d([[0, 2, -2], [2, -2, 0]]));
      const x = tf.tensor2d([[1, 0], [1, 0], [0, 1], [0, 1]]);
      masks[capacityPriority] = mat(l.apply(x, 8, { training: true }).report.mask);
    }
    // By hand. rank: e0 takes its first-choice tokens 2, 3; tokens 0, 1 lose their second choice.
    expect(masks.rank).toEqual([[0, 1, 0], [0, 1, 0], [1, 0, 1], [1, 0, 1]]);
    // token: e0 takes tokens 0, 1 (earliest); tokens 2, 3 lose their FIRST choice.
    expect(masks.token).toEqual([[1, 1, 0], [1, 1, 0], [0, 0, 1], [0, 0, 1]]);
  });
});

describe('AdaMoE and MoE++ experts', () => {
  it('AdaMoE top-2: a token with one true and one null expert gives the true expert gate 1', () => {
    const d = 2;
    const l = layer({ experts: 2, nullExperts: 2, routing: { mode: 'topk', k: 2 }, residual: true }, d);
    // Columns e0, e1, null0, null1: the first feature favours e0 and null0 (logits 3, 0, 2.5, 0).
    l.router.assign(tf.tensor2d([[3, 0, 2.5, 0], [0, 0, 0, 0]]));
    const xs = [[1, 0.5], [1, -0.7]];
    const y = mat(l.apply(tf.tensor2d(xs), 8, { training: false }).y);
    xs.forEach((xt, t) => {
      const f = ffnJs(l, 0, xt);
      // Renormalised over the true experts chosen (only e0): y = x + 1 · FFN_e0(x). Over all chosen slots it
      // would be p_e0 / (p_e0 + p_null0) = 0.62.
      y[t]!.forEach((v, j) => expect(v).toBeCloseTo(xt[j]! + f[j]!, 5));
    });
  });

  it('a token that picks only null / zero experts gets gates of 0 and finite gradients', () => {
    const d = 2;
    const l = layer({ experts: 2, nullExperts: 1, zeroExperts: 1, copyExperts: 1, routing: { mode: 'topk', k: 2 } }, d);
    // Columns e0, e1, null0, zero0, copy0: x = [1, 0] picks null0 + zero0, x = [0, 1] picks e0 + copy0.
    l.router.assign(tf.tensor2d([[0, 0, 30, 29, 0], [3, 0, 0, 0, 2]]));
    const xs = [[1, 0], [0, 1], [1, 0.2]];
    const x = tf.tensor2d(xs);
    const { y } = l.apply(x, 8, { training: false });
    expect(mat(y)[0]).toEqual(xs[0]); // residual only
    const vars = [l.router, ...l.experts.flatMap((e) => [e.w1, e.w2])];
    const { grads } = tf.variableGrads(() => tf.sum(tf.square(l.apply(x, 8, { training: true }).y)) as tf.Scalar, vars);
    for (const v of vars) if (grads[v.name]) expect(mat(grads[v.name]!).flat().every(Number.isFinite), v.name).toBe(true);
    expect(Math.max(...mat(grads[l.router.name]!).flat().map(Math.abs))).toBeGreaterThan(1e-3);
  });

  it('MoE++ balance loss weights zero / copy / constant terms by τ; AdaMoE null experts are ordinary terms', () => {
    const d = 3;
    const T = 8;
    const l = layer({ experts: 2, nullExperts: 1, zeroExperts: 1, copyExperts: 1, constantExperts: 1, routing: { mode: 'topk', k: 2 }, balanceTau: 0.25 }, d, 3);
    const xs = randomRows(T, d, 6);
    const { report } = l.apply(tf.tensor2d(xs), 8, { training: true });
    const R = mat(l.router);
    const S = 6; // e0, e1, null0, zero0, copy0, const0
    const probs = xs.map((xt) => softmax(matVec(xt, R)));
    const count = new Array<number>(S).fill(0);
    probs.forEach((p) => {
      const order = p.map((_, i) => i).sort((a, b) => p[b]! - p[a]! || a - b);
      count[order[0]!]!++;
      count[order[1]!]!++;
    });
    // AdaMoE's reference keeps null experts as ordinary terms (its null-expert override indexes the top-k
    // axis and changes nothing); MoE++ weights its zero-computation experts by τ.
    const eta = [1, 1, 1, 0.25, 0.25, 0.25];
    const want = S * count.reduce((a, cnt, i) => a + eta[i]! * (cnt / (2 * T)) * (probs.reduce((s, p) => s + p[i]!, 0) / T), 0);
    expect(read(report.auxLoss!)).toBeCloseTo(want, 5);
  });

  it('MoE++ gating residual: logits of layer l add W_g · the logits of layer l − 1', () => {
    const d = 2;
    const a = layer({ experts: 3, routing: { mode: 'topk', k: 1 } }, d, 4);
    const b = layer({ experts: 3, routing: { mode: 'topk', k: 1 }, gatingResidual: true }, d, 5);
    b.router.assign(tf.zeros([d, 3])); // b routes by the residual alone
    const Wg = [[0, 0, 5], [5, 0, 0], [0, 5, 0]]; // a's logit i feeds b's logit (i + 2) mod 3
    b.gateMap!.assign(tf.tensor2d(Wg));
    const xs = randomRows(6, d, 8);
    const ctx: MoEForwardContext = newForwardContext();
    const ya = a.apply(tf.tensor2d(xs), 8, { training: false }, ctx).y;
    const za = xs.map((xt) => matVec(xt, mat(a.router)));
    const { report } = b.apply(ya, 8, { training: false }, ctx);
    const zb = za.map((z) => matVec(z, Wg));
    mat(ctx.logits!).forEach((row, t) => row.forEach((v, s) => expect(v).toBeCloseTo(zb[t]![s]!, 4)));
    const topB = vec(report.topExpert);
    expect(topB).toEqual(zb.map(argmax));
    // Without the context (no previous layer) b's logits are 0: every token ties and takes e0.
    expect(vec(b.apply(ya, 8, { training: false }).report.topExpert)).toEqual([0, 0, 0, 0, 0, 0]);
  });
});

describe('router z-loss and jitter', () => {
  it('z-loss is the mean over tokens of logsumexp(logits)²', () => {
    const l = layer({ routing: { mode: 'topk', k: 2 }, zLossWeight: 1e-3 }, 3);
    const xs = randomRows(5, 3, 10);
    const { report } = l.apply(tf.tensor2d(xs), 8, { training: true });
    const R = mat(l.router);
    const want = xs.reduce((a, xt) => a + Math.log(matVec(xt, R).reduce((s, z) => s + Math.exp(z), 0)) ** 2, 0) / xs.length;
    expect(read(report.zLoss!)).toBeCloseTo(want, 5);
  });

  it('jitter multiplies the router input by U(1 − ε, 1 + ε) while training only', () => {
    const l = layer({ routing: { mode: 'topk', k: 1 }, routerJitter: 0.1 }, 1);
    l.router.assign(tf.tensor2d([[1, 0, 0, 0]]));
    const xs = randomRows(50, 1, 11);
    const ctx: MoEForwardContext = newForwardContext();
    l.apply(tf.tensor2d(xs), 8, { training: true }, ctx);
    // logit of column 0 = x · noise · 1 → noise = logit / x
    const noise = mat(ctx.logits!).map((row, t) => row[0]! / xs[t]![0]!);
    for (const n of noise) {
      expect(n).toBeGreaterThanOrEqual(0.9 - 1e-5);
      expect(n).toBeLessThanOrEqual(1.1 + 1e-5);
    }
    expect(Math.max(...noise) - Math.min(...noise)).toBeGreaterThan(0.1);
    l.apply(tf.tensor2d(xs), 8, { training: false }, ctx);
    mat(ctx.logits!).forEach((row, t) => expect(row[0]).toBeCloseTo(xs[t]![0]!, 6));
  });
});

describe('top-p decides alike in training and in export', () => {
  it('[0.7, 0.2, 0.1] at p = 0.9 keeps 2 experts on every path', () => {
    const probs = Float32Array.from([0.7, 0.2, 0.1]);
    // float32 running sum: fl32(0.7) + fl32(0.2) rounds to fl32(0.9), not below it → the third is not added.
    expect(Math.fround(probs[0]! + probs[1]!)).toBe(Math.fround(0.9));
    // (in float64 the sum is 0.89999999 < 0.9, which kept a third expert in the old plain-JS path)
    expect(probs[0]! + probs[1]! < 0.9).toBe(true);
    const t = tf.tensor2d(probs, [1, 3]);
    expect(vec(topPMaskTensor(t, 0.9, 3).reshape([3]))).toEqual([1, 1, 0]); // training (MoELayer)
    expect(Array.from(topPMask(probs, 1, 3, 0.9).data)).toEqual([1, 1, 0]); // the plain-array selection
    expect(vec(gatingMask(t, { mode: 'topp', p: 0.9, maxK: 3 }).reshape([3]))).toEqual([1, 1, 0]); // export graph
  });
});

describe('FLOPs count what a token runs', () => {
  it('null experts cost no FFN once routing is measured', () => {
    const d = 2;
    const l = layer({ experts: 2, nullExperts: 2, routing: { mode: 'topk', k: 1 } }, d);
    const h = 8;
    const router = 2 * d * l.slots;
    const ffn = 2 * 2 * d * h;
    expect(l.countFlops(d, h)).toBe(router + 1 * ffn); // before any measurement: the bound k = 1
    // Route every token to null0: a training pass measures 0 FFN experts per token.
    l.router.assign(tf.tensor2d([[0, 0, 9, 0], [0, 0, 0, 0]]));
    l.apply(tf.concat([tf.ones([8, 1]), tf.tensor2d(randomRows(8, 1, 12))], 1) as tf.Tensor2D, h, { training: true });
    expect(l.measuredFfnPerToken).toBe(0);
    expect(l.countFlops(d, h)).toBe(router);
    expect(layers.lastStore()!.named().get('m.moe.ffnUse')).toBe(l.ffnUse); // checkpointed with the weights
  });

  it('top-p counts its measured k', () => {
    const d = 3;
    const h = 8;
    const l = layer({ experts: 6, routing: { mode: 'topp', p: 0.7 } }, d, 7);
    expect(l.countFlops(d, h)).toBe(2 * d * 6 + 6 * 2 * 2 * d * h); // bound: maxK = all 6
    const xs = randomRows(40, d, 13);
    l.apply(tf.tensor2d(xs), h, { training: true });
    // k per token by hand: ranked probabilities kept while the float32 mass above is < fl32(0.7).
    const R = mat(l.router);
    const ks = xs.map((xt) => {
      const p = softmax(matVec(xt, R)).sort((a, b) => b - a);
      let above = 0;
      let k = 0;
      while (k < p.length && above < Math.fround(0.7)) above = Math.fround(above + Math.fround(p[k++]!));
      return k;
    });
    const meanK = ks.reduce((a, b) => a + b, 0) / ks.length;
    expect(meanK).toBeGreaterThan(1);
    expect(meanK).toBeLessThan(6);
    expect(l.measuredFfnPerToken!).toBeCloseTo(meanK, 5);
    expect(l.countFlops(d, h)).toBeCloseTo(2 * d * 6 + meanK * 2 * 2 * d * h, 3);
  });
});
