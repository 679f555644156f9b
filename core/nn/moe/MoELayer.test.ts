import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRng } from '../../space/rng.js';
import { listExampleSpaces } from '../../space/exampleSpaces.js';
import { SearchSpace } from '../../space/SearchSpace.js';
import type { MoELayerOutput } from '../types.js';
import { MoELayer } from './MoELayer.js';
import { moeLayerFixture } from './moeLayerFixture.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const layers = moeLayerFixture();
afterAll(() => layers.dispose());
const layer = (block: Record<string, unknown>, d = 6, seed = 1): MoELayer => layers.layer(block, d, seed);

/** Give the router a fixed kernel so the test decides where tokens go. */
function setRouter(l: MoELayer, kernel: number[][]): void {
  l.router.assign(tf.tensor2d(kernel));
}

function randomX(T: number, d: number, seed = 3): tf.Tensor2D {
  const rng = createRng(seed);
  return tf.tensor2d(Array.from({ length: T * d }, () => rng.normal()), [T, d]);
}

const read = (t: tf.Tensor) => t.arraySync() as any;

describe('MoELayer top-k', () => {
  it('equals a dense reference that runs every expert and mixes by renormalised top-k gates', () => {
    const l = layer({ routing: { mode: 'topk', k: 2 }, residual: true, activation: 'relu' });
    const x = randomX(10, 6);
    const { y, report } = l.apply(x, 8, { training: false });
    const probs = tf.softmax(tf.matMul(x, l.router)) as tf.Tensor2D;
    const { indices } = tf.topk(probs, 2);
    const mask = tf.sum(tf.oneHot(indices, 4), 1);
    const gates = tf.div(tf.mul(probs, mask), tf.sum(tf.mul(probs, mask), 1, true));
    let ref: tf.Tensor = x;
    l.experts.forEach((e, i) => {
      const h = tf.relu(tf.add(tf.matMul(x, e.w1), e.b1));
      const out = tf.add(tf.matMul(h, e.w2), e.b2);
      ref = tf.add(ref, tf.mul(out, gates.slice([0, i], [10, 1])));
    });
    expect(tf.max(tf.abs(tf.sub(y, ref))).arraySync()).toBeLessThan(1e-5);
    expect(read(report.meanActive)).toBe(2);
    expect(read(tf.sum(report.mask, 1))).toEqual(Array(10).fill(2));
    expect(read(report.load).reduce((a: number, b: number) => a + b, 0)).toBeCloseTo(1, 5);
    expect(read(report.topExpert)).toEqual(read(tf.argMax(probs, 1)));
    // Each expert ran only on its own tokens: 10 tokens × k=2 assignments in total.
    expect(l.lastFfnTokens.reduce((a, b) => a + b, 0)).toBe(20);
  });

  it('sends gradients to the router and to the experts that got tokens, not to idle ones', () => {
    const l = layer({ routing: { mode: 'topk', k: 1 } }, 3);
    // Feature 0 is a constant 1; expert 3 never wins.
    setRouter(l, [
      [1, 1, 1, -9],
      [2, -2, 0, 0],
      [0, 2, -2, 0],
    ]);
    const x = tf.concat([tf.ones([12, 1]), randomX(12, 2)], 1) as tf.Tensor2D;
    const { grads } = tf.variableGrads(() => tf.mean(tf.square(l.apply(x, 8, { training: true }).y)) as tf.Scalar);
    const norm = (v: tf.Variable) => (grads[v.name] ? (tf.norm(grads[v.name]!).arraySync() as number) : 0);
    expect(norm(l.router)).toBeGreaterThan(0);
    const used = l.lastFfnTokens.map((n) => n > 0);
    expect(used[3]).toBe(false);
    l.experts.forEach((e, i) => {
      if (used[i]) expect(norm(e.w1) + norm(e.w2)).toBeGreaterThan(0);
      else expect(norm(e.w1) + norm(e.w2)).toBe(0);
    });
  });
});

describe('MoELayer dispatch', () => {
  it('dense dispatch (WebGPU) gives the same output, report and gradients as sparse dispatch', () => {
    for (const routing of [{ mode: 'topk', k: 2 }, { mode: 'topp', p: 0.5 }, { mode: 'expert-choice' }] as const) {
      const l = layer({ routing, sharedExperts: 1, nullExperts: 1, copyExperts: 1, constantExperts: 1, capacityFactor: routing.mode === 'expert-choice' ? null : 1 }, 6);
      const x = randomX(12, 6);
      const run = (dispatch: 'sparse' | 'dense') => {
        l.dispatch = dispatch;
        const vars = [l.router, ...l.experts.flatMap((e) => [e.w1, e.w2])];
        const { value, grads } = tf.variableGrads(() => {
          const { y, report } = l.apply(x, 8, { training: true });
          return tf.add(tf.sum(tf.square(y)), report.auxLoss ?? 0) as tf.Scalar;
        }, vars);
        const { report } = l.apply(x, 8, { training: true });
        return { value: read(value), grads: vars.map((v) => grads[v.name]!), load: read(report.load), mask: read(report.mask) };
      };
      const a = run('sparse');
      const b = run('dense');
      expect(b.value).toBeCloseTo(a.value, 3);
      expect(b.load).toEqual(a.load);
      expect(b.mask).toEqual(a.mask);
      a.grads.forEach((g, i) => expect(tf.max(tf.abs(tf.sub(g, b.grads[i]!))).arraySync()).toBeLessThan(1e-3));
    }
  });
});

describe('MoELayer fused route (moeFfn)', () => {
  // On cpu moeFfn runs its plain-tfjs equivalent (moeFfnReference): forcing dispatch 'fused' here checks
  // that the route MoELayer takes on WebGPU computes the same output, report and gradients as sparse.
  for (const capacityFactor of [null, 0.75]) {
    it(`matches sparse dispatch for a top-2 ReLU block (capacityFactor ${capacityFactor})`, () => {
      const l = layer({ routing: { mode: 'topk', k: 2 }, activation: 'relu', residual: true, capacityFactor, expertHidden: [8, 12] }, 8);
      const x = randomX(16, 8);
      const vars = [l.router, ...l.experts.flatMap((e) => [e.w1, e.b1, e.w2, e.b2])];
      const run = (dispatch: 'sparse' | 'fused') => {
        l.dispatch = dispatch;
        const { value, grads } = tf.variableGrads(() => {
          const { y, report } = l.apply(x, 12, { training: true });
          return tf.add(tf.sum(tf.square(y)), report.auxLoss!) as tf.Scalar;
        }, vars);
        const dx = tf.grad((xi: tf.Tensor) => tf.sum(tf.square(l.apply(xi as tf.Tensor2D, 12, { training: true }).y)))(x);
        const { y, report } = l.apply(x, 12, { training: true });
        const r = report;
        return {
          value: read(value) as number,
          y,
          dx,
          grads: vars.map((v) => grads[v.name]!),
          report: { load: read(r.load), dropped: read(r.dropped), entropy: read(r.entropy), auxLoss: read(r.auxLoss!), meanActive: read(r.meanActive), topExpert: read(r.topExpert), mask: read(r.mask) },
        };
      };
      const a = run('sparse');
      const b = run('fused');
      expect(b.value).toBeCloseTo(a.value, 3);
      expect(tf.max(tf.abs(tf.sub(a.y, b.y))).arraySync()).toBeLessThan(1e-5);
      expect(tf.max(tf.abs(tf.sub(a.dx, b.dx))).arraySync()).toBeLessThan(1e-4);
      expect(b.report.mask).toEqual(a.report.mask);
      expect(b.report.load).toEqual(a.report.load);
      expect(b.report.topExpert).toEqual(a.report.topExpert);
      expect(b.report.meanActive).toBeCloseTo(a.report.meanActive, 6);
      expect(b.report.dropped).toBeCloseTo(a.report.dropped, 6);
      expect(b.report.entropy).toBeCloseTo(a.report.entropy, 6);
      expect(b.report.auxLoss).toBeCloseTo(a.report.auxLoss, 6);
      if (capacityFactor === null) expect(a.report.dropped).toBe(0);
      // 16 tokens × 2 choices over 4 experts with ceil(0.75·2·16/4) = 6 slots each: some are dropped.
      else expect(a.report.dropped).toBeGreaterThan(0);
      a.grads.forEach((g, i) => {
        expect(tf.norm(g).arraySync(), vars[i]!.name).toBeGreaterThan(0);
        expect(tf.max(tf.abs(tf.sub(g, b.grads[i]!))).arraySync(), vars[i]!.name).toBeLessThan(1e-4);
      });
      expect(b.grads.every((g, i) => g.shape.join() === vars[i]!.shape.join())).toBe(true);
    });
  }

  it('covers every subnet of the moe-relu-topk example space', () => {
    const space = SearchSpace.parse(listExampleSpaces().find((e) => e.id === 'moe-relu-topk')!.space);
    const widths = space.stages[0]!.block.type === 'dense' ? space.stages[0]!.block.width : [];
    const moe = space.stages[1]!.block;
    expect(moe.type).toBe('moe');
    if (moe.type !== 'moe') return;
    const l = new MoELayer('m', moe, Math.max(...widths), layers.store(), createRng(1));
    for (const d of widths) for (const h of moe.expertHidden) expect(l.fusedEligible(d, h), `d ${d} h ${h}`).toBe(true);
  });

  it('is chosen by auto only on webgpu, and refuses blocks it cannot compute', () => {
    const eligible = layer({ routing: { mode: 'topk', k: 2 }, activation: 'relu' }, 8);
    expect(eligible.fusedEligible(8, 8)).toBe(true);
    expect(eligible.fusedEligible(6, 8)).toBe(false);
    eligible.apply(randomX(5, 8), 8, { training: false });
    // auto on cpu runs sparse, which knows each expert's token count.
    expect(eligible.lastFfnTokens.reduce((s, n) => s + n, 0)).toBe(10);
    for (const block of [{ activation: 'gelu' }, { sharedExperts: 1, activation: 'relu' }, { nullExperts: 1, activation: 'relu' }, { routing: { mode: 'topp', p: 0.5 }, activation: 'relu' }]) {
      const l = layer(block, 8);
      expect(l.fusedEligible(8, 8)).toBe(false);
      l.dispatch = 'fused';
      expect(() => l.apply(randomX(5, 8), 8, { training: false })).toThrow(/fused MoE route/);
    }
  });
});

describe('MoELayer top-p', () => {
  it('gives confident tokens one expert and uncertain tokens several', () => {
    const l = layer({ routing: { mode: 'topp', p: 0.6 } }, 2);
    // Feature 0 = sharpness: a large value makes expert 0 dominate; zero leaves the router uniform.
    setRouter(l, [
      [5, 0, 0, 0],
      [0, 0, 0, 0],
    ]);
    const x = tf.tensor2d([
      [3, 0],
      [2, 0],
      [0, 1],
      [0, 0],
    ]);
    const { report } = l.apply(x, 8, { training: false });
    const perToken = read(tf.sum(report.mask, 1)) as number[];
    expect(perToken[0]).toBe(1);
    expect(perToken[1]).toBe(1);
    // Uniform router: 0.25 each, so reaching 0.6 takes three experts.
    expect(perToken[2]).toBe(3);
    expect(perToken[3]).toBe(3);
    expect(read(report.meanActive)).toBe(2);
  });

  it('chooses the smallest prefix reaching p and respects maxK', () => {
    const l = layer({ routing: { mode: 'topp', p: 0.9, maxK: 2 } }, 4);
    const x = randomX(20, 4, 9);
    const { report } = l.apply(x, 8, { training: false });
    const perToken = read(tf.sum(report.mask, 1)) as number[];
    expect(Math.max(...perToken)).toBeLessThanOrEqual(2);
    const l2 = layer({ routing: { mode: 'topp', p: 0.5 } }, 4, 2);
    const probs = read(tf.softmax(tf.matMul(x, l2.router))) as number[][];
    const mask = read(l2.apply(x, 8, { training: false }).report.mask) as number[][];
    probs.forEach((row, t) => {
      const chosen = row.map((pv, i) => [pv, i] as const).filter(([, i]) => mask[t]![i] === 1);
      const sum = chosen.reduce((a, [pv]) => a + pv, 0);
      const smallest = Math.min(...chosen.map(([pv]) => pv));
      expect(sum).toBeGreaterThanOrEqual(0.5 - 1e-6);
      expect(sum - smallest).toBeLessThan(0.5);
      // The chosen ones are the most probable.
      const others = row.filter((_, i) => mask[t]![i] === 0);
      if (others.length) expect(Math.max(...others)).toBeLessThanOrEqual(smallest);
    });
  });
});

describe('MoELayer special and shared experts', () => {
  it('runs no FFN for tokens routed to null experts', () => {
    const l = layer({ experts: 2, nullExperts: 2, routing: { mode: 'topk', k: 1 } }, 2);
    // Columns: e0, e1, null0, null1. Every token prefers a null expert.
    setRouter(l, [
      [0, 0, 4, 3],
      [0, 0, 0, 0],
    ]);
    const x = tf.concat([tf.ones([8, 1]), randomX(8, 1)], 1) as tf.Tensor2D;
    const before = l.ffnCalls;
    const { y, report } = l.apply(x, 8, { training: true });
    expect(l.ffnCalls).toBe(before);
    expect(l.lastFfnTokens).toEqual([0, 0]);
    expect(read(y)).toEqual(read(x)); // residual only
    expect(report.expertNames).toEqual(['e0', 'e1', 'null0', 'null1']);
    expect(read(report.load)).toEqual([0, 0, 1, 0]);
    // Half the tokens to an FFN expert: only those are dispatched.
    setRouter(l, [
      [0, 0, 4, 0],
      [9, 0, 0, 0],
    ]);
    const half = tf.tensor2d([1, 1, 1, -1, 1, 1, 1, -1], [4, 2]);
    l.apply(half, 8, { training: true });
    expect(l.lastFfnTokens).toEqual([2, 0]);
  });

  it('zero experts output nothing, copy experts the input, constant experts a learnt vector', () => {
    const one = (kind: string) => {
      const l = layer({ experts: 1, [kind]: 1, routing: { mode: 'topk', k: 1 }, residual: false }, 3);
      setRouter(l, [
        [0, 9],
        [0, 0],
        [0, 0],
      ]);
      return l;
    };
    const x = tf.concat([tf.ones([5, 1]), randomX(5, 2)], 1) as tf.Tensor2D;
    const zero = one('zeroExperts');
    expect(read(tf.sum(tf.abs(zero.apply(x, 8, { training: false }).y)))).toBe(0);
    // Top-1 gates are the raw router probability (Switch): p = e⁹ / (1 + e⁹) for the special column.
    const p = Math.exp(9) / (1 + Math.exp(9));
    const xs = read(x) as number[][];
    const copy = one('copyExperts');
    (read(copy.apply(x, 8, { training: false }).y) as number[][]).forEach((row, t) => row.forEach((val, j) => expect(val).toBeCloseTo(p * xs[t]![j]!, 6)));
    // MoE++ constant expert: p · (α₁ x + α₂ v), [α₁, α₂] = softmax(x · W_c), computed here in plain JS.
    const constant = one('constantExperts');
    const wc = read(constant.constantGate!) as number[][];
    wc.forEach((r, i) => wc[i] = [r[0]! + 0.5 * i, r[1]! - 0.3 * i]); // make α vary per token
    constant.constantGate!.assign(tf.tensor2d(wc));
    const y = constant.apply(x, 8, { training: false }).y;
    const v = (read(constant.constants!) as number[][])[0]!;
    (read(y) as number[][]).forEach((row, t) => {
      const z = [0, 1].map((c) => xs[t]!.reduce((a, xi, i) => a + xi * wc[i]![c]!, 0));
      const a1 = Math.exp(z[0]!) / (Math.exp(z[0]!) + Math.exp(z[1]!));
      row.forEach((val, j) => expect(val).toBeCloseTo(p * (a1 * xs[t]![j]! + (1 - a1) * v[j]!), 5));
    });
    expect(zero.ffnCalls + copy.ffnCalls + constant.ffnCalls).toBe(0);
  });

  it('shared experts see every token, beside the routed ones', () => {
    const l = layer({ experts: 4, sharedExperts: 2, routing: { mode: 'topk', k: 1 } }, 4);
    const x = randomX(7, 4);
    const { y, report } = l.apply(x, 8, { training: false });
    expect(report.expertNames).toEqual(['e0', 'e1', 'e2', 'e3', 'shared0', 'shared1']);
    const mask = read(report.mask) as number[][];
    mask.forEach((row) => {
      expect(row[4]).toBe(1);
      expect(row[5]).toBe(1);
      expect(row.slice(0, 4).reduce((a, b) => a + b, 0)).toBe(1);
    });
    expect(l.lastFfnTokens.slice(4)).toEqual([7, 7]);
    expect(read(report.meanActive)).toBe(3);
    // Shared output really enters y: zeroing a shared expert changes every row.
    l.shared[0]!.b2.assign(tf.fill([4], 1));
    const y2 = l.apply(x, 8, { training: false }).y;
    (read(tf.sub(y2, y)) as number[][]).forEach((row) => row.forEach((v) => expect(v).toBeCloseTo(1, 4)));
  });

  it('segments split each expert into m thinner experts with k·m active', () => {
    const l = layer({ experts: 2, segments: 2, expertHidden: [8, 16], routing: { mode: 'topk', k: 1 } }, 4);
    expect(l.experts.length).toBe(4);
    expect(l.experts[0]!.w1.shape).toEqual([4, 8]);
    const { report } = l.apply(randomX(6, 4), 16, { training: false });
    expect(read(report.meanActive)).toBe(2);
    expect(() => l.apply(randomX(6, 4), 7, { training: false })).toThrow(/divisible/);
  });
});

describe('MoELayer capacity and expert choice', () => {
  it('drops assignments past an expert capacity while training, and counts them', () => {
    const l = layer({ routing: { mode: 'topk', k: 1 }, capacityFactor: 1 }, 2);
    setRouter(l, [
      [9, 0, 0, 0],
      [0, 0, 0, 0],
    ]);
    const x = tf.concat([tf.ones([16, 1]), randomX(16, 1)], 1) as tf.Tensor2D;
    const { y, report } = l.apply(x, 8, { training: true });
    // capacity = ceil(1 · 1 · 16 / 4) = 4 → 12 of 16 assignments dropped.
    expect(read(report.dropped)).toBeCloseTo(12 / 16, 6);
    expect(l.lastFfnTokens[0]).toBe(4);
    expect(read(report.load)[0]).toBe(1); // load is counted before drops
    expect(read(tf.sum(report.mask))).toBe(4);
    // Dropped tokens pass through the residual unchanged (rows 4..15).
    expect(read(y.slice([4, 0], [12, 2]))).toEqual(read(x.slice([4, 0], [12, 2])));
    const inference = l.apply(x, 8, { training: false });
    expect(read(inference.report.dropped)).toBe(0);
  });

  it('expert choice gives every expert exactly C tokens', () => {
    const l = layer({ experts: 4, routing: { mode: 'expert-choice', capacityFactor: 2 } }, 5);
    const { report } = l.apply(randomX(12, 5), 8, { training: true });
    // C = 2 · 12 / 4 = 6
    expect(read(tf.sum(report.mask, 0))).toEqual([6, 6, 6, 6]);
    expect(l.lastFfnTokens).toEqual([6, 6, 6, 6]);
    expect(read(report.meanActive)).toBe(2);
    // The Switch loss would be the constant 1 here (f_i = 1/S by construction, no gradient): none is reported.
    expect(report.auxLoss).toBeNull();
  });
});

describe('MoELayer SMoE-Dropout', () => {
  it('keeps its random router frozen under training and grows k with progress', () => {
    const l = layer({ experts: 4, routing: { mode: 'smoe-dropout', kStart: 1, kEnd: 4 } }, 4);
    expect(l.router.trainable).toBe(false);
    const before = read(l.router);
    const x = randomX(16, 4);
    const opt = tf.train.adam(0.05);
    const trainable = [l.router, ...l.experts.flatMap((e) => [e.w1, e.b1, e.w2, e.b2])].filter((v) => v.trainable);
    for (let i = 0; i < 3; i++) {
      opt.minimize(() => {
        const { y, report } = l.apply(x, 8, { training: true, progress: i / 2 });
        return tf.add(tf.mean(tf.square(y)), report.auxLoss!) as tf.Scalar;
      }, false, trainable);
    }
    expect(read(l.router)).toEqual(before);
    const active = [0, 0.5, 1].map((progress) => read(l.apply(x, 8, { training: true, progress }).report.meanActive));
    expect(active).toEqual([1, 3, 4]); // round(1 + 3 · 0.5) = 3
    expect(read(l.apply(x, 8, { training: false }).report.meanActive)).toBe(4);
  });
});

describe('balance loss', () => {
  /** 40 SGD steps of MSE toward `target` plus `extra(report)` on every layer variable. */
  function trainLayer(l: MoELayer, X: tf.Tensor2D, target: tf.Tensor2D, extra: (r: MoELayerOutput) => tf.Tensor): void {
    const vars = [l.router, ...l.experts.flatMap((e) => [e.w1, e.b1, e.w2, e.b2])];
    const opt = tf.train.sgd(0.5);
    for (let step = 0; step < 40; step++) {
      opt.minimize(() => {
        const { y, report } = l.apply(X, 8, { training: true });
        return tf.add(tf.losses.meanSquaredError(target, y), extra(report)) as tf.Scalar;
      }, false, vars);
    }
  }

  /** Imbalance after training: the largest expert load over the even share (1 = balanced). */
  function trainImbalance(auxLossWeight: number): number {
    const l = layer({ experts: 4, routing: { mode: 'topk', k: 1 } }, 5, 11);
    // Start collapsed: the constant feature pushes almost everything to expert 0.
    l.router.assign(tf.tensor2d([[3, 0, 0, 0], ...Array.from({ length: 4 }, (_, i) => [0, 0, 0, 0].map((_, j) => (i === j ? 0.3 : 0)))]));
    const rng = createRng(5);
    const X = tf.concat([tf.ones([64, 1]), tf.tensor2d(Array.from({ length: 64 * 4 }, () => rng.normal()), [64, 4])], 1) as tf.Tensor2D;
    const target = tf.tensor2d(Array.from({ length: 64 * 5 }, () => rng.normal() * 0.1), [64, 5]);
    trainLayer(l, X, target, (r) => tf.mul(auxLossWeight, r.auxLoss!));
    const load = read(l.apply(X, 8, { training: false }).report.load) as number[];
    return Math.max(...load) * load.length;
  }

  /** Mean experts per token after training a top-p layer with the given dynamic-loss weight. */
  function trainTopP(entropyWeight: number): number {
    const l = layer({ experts: 6, routing: { mode: 'topp', p: 0.8 } }, 5, 13);
    const rng = createRng(7);
    const X = tf.tensor2d(Array.from({ length: 64 * 5 }, () => rng.normal()), [64, 5]);
    const target = tf.tensor2d(Array.from({ length: 64 * 5 }, () => rng.normal() * 0.1), [64, 5]);
    trainLayer(l, X, target, (r) => tf.mul(entropyWeight, r.entropy));
    return read(l.apply(X, 8, { training: false }).report.meanActive) as number;
  }

  it('top-p: the dynamic (router entropy) loss lowers the number of active experts', () => {
    const without = trainTopP(0);
    const withLoss = trainTopP(2);
    // measured: 2.98 experts per token without, 1.44 with weight 2 (0.5 gives 2.28)
    expect(without).toBeGreaterThan(2.5);
    expect(withLoss).toBeLessThan(without - 1);
  });

  it('lowers load imbalance on a synthetic task', () => {
    const without = trainImbalance(0);
    const withLoss = trainImbalance(1);
    expect(without).toBeGreaterThan(2.5); // still mostly one expert
    expect(withLoss).toBeLessThan(without - 1);
  });
});
