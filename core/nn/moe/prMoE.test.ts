/**
 * DeepSpeed-MoE PR-MoE (Rajbhandari et al., 2022): the expert count per MoE layer as a searchable choice
 * (`expertCounts`). A subnet with E' experts equals a plain-JS computation over only the first E' experts'
 * weights and the router's first E' columns (softmax over E' — and the null columns, which every count
 * keeps); only those experts learn; the count is an arch position; params / FLOPs per choice against an
 * independent count; a pyramid space (2 → 4 experts) trains; its subnets export to tfjs and ONNX within 1e-4.
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportDiffs } from '../../export/exportCheck.js';
import { archPositions, describeArch, largestArch, sampleArch, smallestArch } from '../../space/archCodec.js';
import { moe as moeDescriptor } from '../../space/blocks/moe.js';
import { createRng } from '../../space/rng.js';
import { MoEBlock, SearchSpace, type Arch, type SearchSpaceInput } from '../../space/SearchSpace.js';
import { validateSpace } from '../../space/validateSpace.js';
import { spiralsRun } from '../../train/spiralsRun.js';
import type { MoEOp, SubnetOp } from '../graph/ops.js';
import { buildSupernet } from '../Supernet.js';
import { hostFfn, moeLayerFixture, randomRows, reluFfn, softmax, type HostFfn } from './moeLayerFixture.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});
const layers = moeLayerFixture({ activation: 'relu' });
afterAll(() => layers.dispose());


/** Plain JS: top-k over softmax(x · W[:, cols]) renormalised over the chosen FFN experts, + x. */
function reference(x: number[], W: number[][], cols: number[], ffnCols: number, experts: HostFfn[], k: number, h: number): number[] {
  const p = softmax(cols.map((c) => x.reduce((s, v, i) => s + v * W[i]![c]!, 0)));
  const order = p.map((v, j) => [v, j] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
  const chosen = order.slice(0, k).map(([, j]) => j);
  const ffn = chosen.filter((j) => cols[j]! < ffnCols);
  const z = ffn.reduce((s, j) => s + p[j]!, 0);
  const y = [...x];
  for (const j of ffn) reluFfn(experts[cols[j]!]!, x, h).forEach((v, o) => (y[o]! += (p[j]! / z) * v));
  return y;
}

function pyramid(): SearchSpaceInput {
  return {
    version: 1,
    name: 'PR-MoE pyramid',
    input: { kind: 'vector', dim: 2 },
    numClasses: 4,
    stages: [
      { id: 'stem', depth: [1], block: { type: 'dense', width: [32], activation: 'relu' } },
      { id: 'moe1', depth: [1], block: { type: 'moe', experts: 4, expertCounts: [2, 4], expertHidden: [16, 32], routing: { mode: 'topk', k: 2 } } },
      { id: 'moe2', depth: [1], block: { type: 'moe', experts: 8, expertCounts: [4, 8], expertHidden: [16, 32], routing: { mode: 'topk', k: 2 } } },
    ],
  } as SearchSpaceInput;
}

describe('PR-MoE expert-count choice', () => {
  it('a subnet with E experts is the first E experts under softmax over the router’s first E columns (plain JS)', () => {
    const d = 4;
    const l = layers.layer({ experts: 4, expertCounts: [2, 3, 4], nullExperts: 1, routing: { mode: 'topk', k: 2 } }, d);
    const rows = randomRows(24, d, 3);
    const W = l.router.arraySync() as number[][];
    const experts = l.experts.map(hostFfn);
    for (const E of [2, 3, 4]) {
      const y = l.apply(tf.tensor2d(rows), 8, { training: false, experts: E }).y.arraySync() as number[][];
      // Columns of the subnet: its E FFN experts, then the null expert (column 4).
      const cols = [...Array.from({ length: E }, (_, j) => j), 4];
      rows.forEach((x, t) => reference(x, W, cols, 4, experts, 2, 8).forEach((v, o) => expect(y[t]![o]!).toBeCloseTo(v, 5)));
    }
    // The choice matters: two experts is not the full layer.
    const y2 = l.apply(tf.tensor2d(rows), 8, { training: false, experts: 2 }).y.dataSync();
    const y4 = l.apply(tf.tensor2d(rows), 8, { training: false }).y.dataSync();
    expect(Math.max(...Array.from(y2, (v, i) => Math.abs(v - y4[i]!)))).toBeGreaterThan(1e-3);
    // The report keeps every slot: the missing experts get no load.
    const { report } = l.apply(tf.tensor2d(rows), 8, { training: false, experts: 2 });
    const load = Array.from(report.load.dataSync());
    expect(load).toHaveLength(5);
    expect(load[2]! + load[3]!).toBe(0);
    expect(load[0]! + load[1]!).toBeGreaterThan(0);
  });

  it('only the subnet’s experts and router columns get gradients', () => {
    const l = layers.layer({ experts: 4, expertCounts: [2, 4], routing: { mode: 'topk', k: 2 } }, 4);
    const x = tf.tensor2d(randomRows(32, 4, 7));
    const vars = [l.router, ...l.experts.map((e) => e.w1)];
    const { grads } = tf.variableGrads(() => tf.sum(tf.square(l.apply(x, 8, { training: true, experts: 2 }).y)) as tf.Scalar, vars);
    // A variable off the path gets no gradient at all (undefined) or zeros.
    const absMax = (t: tf.Tensor | undefined) => (t ? Math.max(...Array.from(t.dataSync()).map(Math.abs)) : 0);
    expect(absMax(grads[l.experts[0]!.w1.name]!)).toBeGreaterThan(0);
    expect(absMax(grads[l.experts[1]!.w1.name]!)).toBeGreaterThan(0);
    expect(absMax(grads[l.experts[2]!.w1.name])).toBe(0);
    expect(absMax(grads[l.experts[3]!.w1.name])).toBe(0);
    const g = grads[l.router.name]!;
    expect(absMax(g.slice([0, 0], [4, 2]))).toBeGreaterThan(0);
    expect(absMax(g.slice([0, 2], [4, 2]))).toBe(0);
  });

  it('is an arch position; params and FLOPs per choice equal an independent count', () => {
    const space = SearchSpace.parse(pyramid());
    const labels = archPositions(space).map((p) => p.label);
    expect(labels).toContain('moe1.b0.experts');
    expect(labels).toContain('moe2.b0.experts');
    const small = smallestArch(space);
    expect(small.stages[1]!.blocks[0]!.experts).toBe(2);
    expect(small.stages[2]!.blocks[0]!.experts).toBe(4);
    expect(describeArch(space, small)).toContain('e2');
    const seen = new Set<number>();
    const rng = createRng(1);
    for (let i = 0; i < 30; i++) seen.add(sampleArch(space, rng).stages[2]!.blocks[0]!.experts!);
    expect([...seen].sort()).toEqual([4, 8]);

    const net = buildSupernet(space, { seed: 1 });
    // Independent: dense 2→32 (+ bias), per MoE layer a router 32×E and E experts of 32→h→32, the head 32→4.
    const moeParams = (E: number, h: number) => 32 * E + E * (2 * 32 * h + h + 32);
    const arch = (e1: number, e2: number, h: number): Arch => ({ stages: [{ depth: 1, blocks: [{ op: 'dense', width: 32 }] }, { depth: 1, blocks: [{ experts: e1, expertHidden: h }] }, { depth: 1, blocks: [{ experts: e2, expertHidden: h }] }] });
    const base = 2 * 32 + 32 + 32 * 4 + 4;
    expect(net.countParams(arch(2, 4, 16))).toBe(base + moeParams(2, 16) + moeParams(4, 16));
    expect(net.countParams(arch(4, 8, 32))).toBe(base + moeParams(4, 32) + moeParams(8, 32));
    // FLOPs: the router grows with E (2·d·E per token), the k = 2 experts a token runs do not.
    const flops = (a: Arch) => net.countFlops(a);
    expect(flops(arch(4, 8, 16)) - flops(arch(2, 4, 16))).toBe(2 * 32 * 2 + 2 * 32 * 4);
    // The descriptor's nominal FLOPs (before training) agree on the router term.
    const b = MoEBlock.parse(pyramid().stages[2]!.block);
    const input = { layout: 'vector', width: 32, spatial: [1, 1], length: 1 } as const;
    expect(moeDescriptor.nominalFlops(b, { expertHidden: 16, experts: 8 }, input) - moeDescriptor.nominalFlops(b, { expertHidden: 16, experts: 4 }, input)).toBe(2 * 32 * 4);
    net.dispose();
  });

  it('validation names the bad count and refuses options whose state spans every column', () => {
    const bad = (block: Record<string, unknown>) => {
      const s = pyramid();
      s.stages[1] = { ...s.stages[1]!, block: { ...(s.stages[1]!.block as object), ...block } } as never;
      const r = validateSpace(s);
      return r.ok ? [] : r.issues.map((i) => `${i.path}: ${i.message}`);
    };
    expect(bad({ expertCounts: [2, 8] }).join('\n')).toMatch(/stages\[1\]\.block\.expertCounts\[1\].*exceed/);
    expect(bad({ expertCounts: [1, 4], routing: { mode: 'topk', k: 2 } }).join('\n')).toMatch(/at 1 experts/);
    expect(bad({ gatingResidual: true }).join('\n')).toMatch(/expertCounts.*gatingResidual/);
    expect(bad({})).toEqual([]);
  });

  it('a pyramid space trains (sandwich), and its subnets export to tfjs and ONNX within 1e-4 of the supernet', async () => {
    const { net, run } = spiralsRun(pyramid(), { steps: 150, learningRate: 0.02, strategy: 'sandwich' });
    const { res, points } = await run();
    const losses = points.map((p) => p.loss);
    const mean = (a: number[]) => a.reduce((s, v) => s + v, 0) / a.length;
    expect(mean(losses.slice(-20))).toBeLessThan(mean(losses.slice(0, 20)));
    console.log(`spirals, PR-MoE pyramid (2|4 → 4|8 experts), sandwich 150 steps: loss ${mean(losses.slice(0, 20)).toFixed(3)} → ${mean(losses.slice(-20)).toFixed(3)}, val accuracy ${res.final!.valAccuracy.toFixed(3)} (${res.final!.val.split}, n=${res.final!.val.n}, 95% CI ${res.final!.val.ci95.map((v) => v.toFixed(3)).join('–')})`);

    const rng = createRng(6);
    const x = tf.tensor2d(Array.from({ length: 40 * 2 }, () => rng.normal() * 2), [40, 2]);
    for (const arch of [smallestArch(net.space), largestArch(net.space)]) {
      const r = await exportDiffs(net, arch, x);
      for (const v of Object.values(r.diff)) expect(v).toBeLessThan(1e-4);
      expect(r.params.graph).toBe(r.params.supernet);
    }
    // The smallest subnet's exported MoE ops hold 2 and 4 expert slots, routers of 2 and 4 columns.
    const small = await exportDiffs(net, smallestArch(net.space), x);
    const moeOps: MoEOp[] = [];
    const walk = (ops: readonly SubnetOp[]) => ops.forEach((o) => (o.op === 'moe' ? moeOps.push(o) : o.op === 'residual' ? walk(o.body) : undefined));
    walk(small.graph.ops);
    expect(moeOps.map((o) => o.slots.length)).toEqual([2, 4]);
    expect(moeOps.map((o) => o.router.outDim)).toEqual([2, 4]);
    net.dispose();
  }, 180_000);
});
