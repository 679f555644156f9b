/**
 * RMoE's mechanism against an independent plain-JS computation: the GRU state crosses the MoE layers of
 * one forward pass (layer 2's logits move when only layer 1's input moves, and equal W_r · GRU(x₂W_p, h₁)),
 * the cell is shared and counted once, and a small space trains with it.
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { largestArch, smallestArch } from '../../space/archCodec.js';
import { createRng } from '../../space/rng.js';
import { MoEBlock, SearchSpace } from '../../space/SearchSpace.js';
import { spiralsRun, spiralsWith } from '../../train/spiralsRun.js';
import { VariableStore } from '../init.js';
import { MoELayer } from '../moe/MoELayer.js';
import { randomRows } from '../moe/moeLayerFixture.js';
import { countGraphParams } from '../graph/evaluate.js';
import type { MoEOp } from '../graph/ops.js';
import { buildSupernet, subnetGraph } from '../Supernet.js';
import { newForwardContext } from './router.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});
const store = new VariableStore();
afterAll(() => store.dispose());

type M = number[][];
const matmul = (a: M, b: M): M => a.map((row) => b[0]!.map((_, j) => row.reduce((s, v, k) => s + v * b[k]![j]!, 0)));
const sig = (v: number) => 1 / (1 + Math.exp(-v));
/** torch's GRU cell, written out: columns [r | z | n] of wx [H, 3H], bx, wh, bh. */
function gruJs(x: M, h: M, wx: M, bx: number[], wh: M, bh: number[]): M {
  const H = h[0]!.length;
  const gx = matmul(x, wx).map((row) => row.map((v, j) => v + bx[j]!));
  const gh = matmul(h, wh).map((row) => row.map((v, j) => v + bh[j]!));
  return h.map((hr, t) =>
    hr.map((hv, i) => {
      const r = sig(gx[t]![i]! + gh[t]![i]!);
      const z = sig(gx[t]![H + i]! + gh[t]![H + i]!);
      const n = Math.tanh(gx[t]![2 * H + i]! + r * gh[t]![2 * H + i]!);
      return (1 - z) * n + z * hv;
    }),
  );
}

/** The spirals example with a two-to-three-layer MoE stage routed by RMoE (GRU width 16). */
const rmoeSpirals = () => spiralsWith({ mode: 'rmoe', hidden: 16 }, { depth: [2, 3] });

describe('RMoE layerwise recurrent router', () => {
  const block = MoEBlock.parse({ type: 'moe', experts: 4, expertHidden: [8], activation: 'relu', routing: { mode: 'rmoe', k: 2, hidden: 6 } });
  const d = 5;
  const rng = createRng(7);
  const l1 = new MoELayer('l1', block, d, store, rng);
  const l2 = new MoELayer('l2', block, d, store, rng);

  it('shares one GRU cell between the layers (made by the first, borrowed by the second)', () => {
    expect(l1.routerParams!.borrowed.size).toBe(0);
    expect(l2.routerParams!.borrowed.size).toBe(4);
    for (const p of ['wx', 'bx', 'wh', 'bh']) expect(l2.routerParams!.vars[p]).toBe(l1.routerParams!.vars[p]);
    expect(l2.routerParams!.vars.proj).not.toBe(l1.routerParams!.vars.proj);
    expect(l1.router.shape).toEqual([6, 4]); // the read-out W_r: H rows
    // The cell's 6H(H+1) parameters count in the first layer only.
    expect(l1.countParams(d, 8) - l2.countParams(d, 8)).toBe(6 * 6 * 7);
  });

  it("carries the state across layers: layer 2's logits follow layer 1's input and equal W_r · GRU(x₂W_p, h₁)", () => {
    const x1 = randomRows(12, d, 1);
    const x1b = randomRows(12, d, 2);
    const x2 = randomRows(12, d, 3);
    const logits2 = (first: M) =>
      tf.tidy(() => {
        const ctx = newForwardContext();
        l1.apply(tf.tensor2d(first), 8, { training: false }, ctx);
        l2.apply(tf.tensor2d(x2), 8, { training: false }, ctx);
        return ctx.logits!.arraySync() as M;
      });
    const a = logits2(x1);
    const b = logits2(x1b);
    const diff = Math.max(...a.flat().map((v, i) => Math.abs(v - b.flat()[i]!)));
    expect(diff).toBeGreaterThan(1e-2); // same x₂, different x₁: the state crossed

    const v = <T = M>(l: MoELayer, p: string) => l.routerParams!.vars[p]!.arraySync() as unknown as T;
    const [wx, bx, wh, bh] = [v(l1, 'wx'), v<number[]>(l1, 'bx'), v(l1, 'wh'), v<number[]>(l1, 'bh')];
    const zeros = x1.map(() => Array<number>(6).fill(0));
    const h1 = gruJs(matmul(x1, v(l1, 'proj')), zeros, wx, bx, wh, bh);
    const h2 = gruJs(matmul(x2, v(l2, 'proj')), h1, wx, bx, wh, bh);
    const expected = matmul(h2, l2.router.arraySync() as M);
    expected.flat().forEach((e, i) => expect(a.flat()[i]!).toBeCloseTo(e, 5));
    // A layer with no context is the first of its chain: h₀ = 0.
    const alone = tf.tidy(() => {
      const ctx = newForwardContext();
      l2.apply(tf.tensor2d(x2), 8, { training: false }, ctx);
      return ctx.logits!.arraySync() as M;
    });
    const first = matmul(gruJs(matmul(x2, v(l2, 'proj')), zeros, wx, bx, wh, bh), l2.router.arraySync() as M);
    first.flat().forEach((e, i) => expect(alone.flat()[i]!).toBeCloseTo(e, 5));
  });

  it('counts the shared cell once: the supernet and the exported graph agree, for every depth', () => {
    const space = SearchSpace.parse(rmoeSpirals());
    const net = buildSupernet(space, { seed: 3 });
    for (const arch of [largestArch(space), smallestArch(space)]) {
      const graph = subnetGraph(net, arch);
      expect(countGraphParams(graph)).toBe(net.countParams(arch));
      const moe = graph.ops.flatMap((o) => (o.op === 'residual' ? o.body : [o])).filter((o): o is MoEOp => o.op === 'moe');
      expect(moe.length).toBeGreaterThanOrEqual(2);
      expect(moe.map((o) => (o.recurrent?.gru ? 1 : 0))).toEqual([1, ...Array<number>(moe.length - 1).fill(0)]);
    }
    net.dispose();
  });

  it('trains the spirals example with RMoE routing: loss falls, the GRU cell learns, accuracy beats chance', async () => {
    // Two RMoE layers (the state crosses one boundary), GRU width 16.
    const { net, run } = spiralsRun(spiralsWith({ mode: 'rmoe', hidden: 16 }, { depth: [2] }), { steps: 300, learningRate: 0.01 });
    const cell = net.moeLayers()[0]!.routerParams!.vars.wh!;
    const before = cell.dataSync().slice();
    const { res, points } = await run();
    const losses = points.map((p) => p.loss);
    expect(res.status).toBe('completed');
    const after = cell.dataSync();
    expect(Math.max(...Array.from(after).map((v, i) => Math.abs(v - before[i]!)))).toBeGreaterThan(1e-3);
    const head = losses.slice(0, 5).reduce((a, b) => a + b, 0) / 5;
    const tail = losses.slice(-5).reduce((a, b) => a + b, 0) / 5;
    expect(tail).toBeLessThan(head);
    expect(res.final!.valAccuracy).toBeGreaterThan(0.4); // 4 arms: chance 0.25
    console.log(`RMoE spirals: val accuracy ${res.final!.valAccuracy.toFixed(3)} (${res.final!.val.split}, n=${res.final!.val.n}, 95% CI ${res.final!.val.ci95.map((v) => v.toFixed(3)).join('–')}), train loss ${head.toFixed(3)} → ${tail.toFixed(3)}`);
    net.dispose();
  }, 300_000);
});
