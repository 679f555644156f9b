import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { countGraphParams, runSubnetGraph, type MoEOp, type SubnetGraph } from '../nn/graph/evaluate.js';
import { COMPRESS_METHOD_NAMES } from '../protocol/compressMethodNames.js';
import type { CompressedDense } from './CompressionMethod.js';
import { calibrateMoE, runPrefix } from './calibrate.js';
import { compressGraph, keepSlots } from './compressGraph.js';
import { dequantizeKernel } from './quantize.js';
import { compressionMethods } from './registry.js';
import { graphSize } from './storage.js';
import { randomRows } from './testExperts.js';
import { tinyMoEGraph } from './testGraph.js';

await tf.setBackend('cpu');

const moeOf = (g: SubnetGraph) => (g.ops[2] as { body: MoEOp[] }).body[0]!;
const calib = () => tf.tensor2d(randomRows(64, 6, 5), [64, 6]);

describe('compression passes over the subnet graph', () => {
  it('registers one method per protocol name', () => {
    expect(Object.keys(compressionMethods).sort()).toEqual([...COMPRESS_METHOD_NAMES].sort());
    for (const [name, m] of Object.entries(compressionMethods)) expect(m.name).toBe(name);
  });

  it.each(COMPRESS_METHOD_NAMES)('%s: every level yields a graph that runs, and is smaller than the original', async (name) => {
    const g = tinyMoEGraph();
    const x = calib();
    const before = graphSize(g);
    expect(before).toEqual({ params: countGraphParams(g), bits: 32 * countGraphParams(g) });
    for (const level of compressionMethods[name].levels) {
      const c = await compressGraph(g, compressionMethods[name], level, x);
      const y = runSubnetGraph(c.graph, x);
      expect(y.shape).toEqual([64, 3]);
      expect([...(await y.data())].every(Number.isFinite)).toBe(true);
      y.dispose();
      expect(graphSize(c.graph).bits).toBeLessThan(before.bits);
      expect(c.layers).toHaveLength(1);
    }
    x.dispose();
  });

  it('quantize: each expert kernel is its dequantised codes; bits count codes, steps and biases', async () => {
    const g = tinyMoEGraph();
    const c = await compressGraph(g, compressionMethods.quantize, { bits: 4 }, calib());
    const m = moeOf(c.graph);
    for (const s of m.slots) {
      if (s.kind !== 'expert') continue;
      const up = s.ffn.up as CompressedDense;
      expect(up.quant!.bits).toBe(4);
      expect([...up.kernel]).toEqual([...dequantizeKernel(up.quant!)]);
    }
    const expertBits = 4 * (4 * 8 * 6 + 4 * 6 * 8) + 32 * 4 * (6 + 8) + 32 * 4 * (6 + 8);
    const other = countGraphParams(g) - 4 * (8 * 6 + 6 + 6 * 8 + 8);
    expect(graphSize(c.graph).bits).toBe(expertBits + 32 * other);
  });

  it('mc-smoe: the slots of a group share one merged expert, stored once', async () => {
    const g = tinyMoEGraph();
    const c = await compressGraph(g, compressionMethods['mc-smoe'], { keep: 0.5 }, calib());
    const m = moeOf(c.graph);
    const ffns = new Set(m.slots.map((s) => (s.kind === 'expert' ? s.ffn : null)));
    expect(ffns.size).toBe(2);
    expect(m.slots).toHaveLength(4);
    expect(c.layers[0]!.groups!.flat().sort()).toEqual([0, 1, 2, 3]);
    const one = 8 * 6 + 6 + 6 * 8 + 8;
    expect(graphSize(c.graph).params).toBe(countGraphParams(g) - 2 * one);
  });

  it('stun: pruned experts leave the router; the kept columns are the originals', async () => {
    const g = tinyMoEGraph();
    const c = await compressGraph(g, compressionMethods.stun, { keep: 0.5, sparsity: 0.5 }, calib());
    const before = moeOf(g);
    const m = moeOf(c.graph);
    expect(m.slots).toHaveLength(2);
    const kept = m.slots.map((s) => before.slots.findIndex((b) => b.name === s.name));
    expect(keepSlots(before, kept).router.kernel).toEqual(m.router.kernel);
    for (const s of m.slots) if (s.kind === 'expert') expect(s.ffn.up.kernel.filter((v) => v === 0).length).toBe(6 * Math.floor(0.5 * 8));
  });

  it('d2moe: the more used expert gets at least as many bits; kernels are slices of one 8-bit code', async () => {
    const g = tinyMoEGraph();
    const c = await compressGraph(g, compressionMethods.d2moe, { bits: 4 }, calib());
    const bits = c.layers[0]!.bitsPerExpert!;
    const x = calib();
    const usage = calibrateMoE(moeOf(g), await runPrefix(g.ops.slice(0, 2), x), 64).usage;
    for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) if (usage[i]! > usage[j]!) expect(bits[i]!).toBeGreaterThanOrEqual(bits[j]!);
    expect(bits.reduce((a, b) => a! + b!, 0)! / 4).toBeLessThanOrEqual(4);
    for (const [i, s] of moeOf(c.graph).slots.entries()) if (s.kind === 'expert') expect((s.ffn.down as CompressedDense).quant!.bits).toBe(bits[i]);
  });

  it('eaquant: the router is quantised too and its bits are counted', async () => {
    const g = tinyMoEGraph();
    const q = await compressGraph(g, compressionMethods.quantize, { bits: 4 }, calib());
    const e = await compressGraph(g, compressionMethods.eaquant, { bits: 4 }, calib());
    const router = moeOf(e.graph).router as CompressedDense;
    expect([...router.kernel]).toEqual([...dequantizeKernel(router.quant!)]);
    // Router [8, 4] + bias 4: 32·36 float bits become 4·32 code bits + 4 steps + 4 bias floats.
    expect(graphSize(q.graph).bits - graphSize(e.graph).bits).toBe(32 * 36 - (4 * 32 + 32 * 4 + 32 * 4));
  });

  it("keepSlots slices Chain-of-Experts' later routers too", () => {
    const op = moeOf(tinyMoEGraph());
    const it2 = { kernel: Float32Array.from({ length: 32 }, (_, i) => i), bias: null, inDim: 8, outDim: 4 };
    const k = keepSlots({ ...op, iterations: [it2] }, [0, 2]);
    expect(k.iterations![0]!.outDim).toBe(2);
    expect([...k.iterations![0]!.kernel.slice(0, 4)]).toEqual([0, 2, 4, 6]);
  });

  it('a prototype router is calibrated on the row-normalised inputs', () => {
    const op = moeOf(tinyMoEGraph());
    const x = Float32Array.from(randomRows(3, 8, 2));
    const c = calibrateMoE({ ...op, prototype: true }, x, 3);
    const row = Array.from(x.subarray(0, 8));
    const norm = Math.hypot(...row);
    let l0 = op.router.bias![0]!;
    for (let i = 0; i < 8; i++) l0 += (row[i]! / norm) * op.router.kernel[i * 4]!;
    expect(c.logits[0]).toBeCloseTo(l0, 5);
  });

  it('keepSlots slices gating residuals and clamps k', () => {
    const op = moeOf(tinyMoEGraph());
    const gr = { kernel: Float32Array.from({ length: 16 }, (_, i) => i), bias: null, inDim: 4, outDim: 4 };
    const k = keepSlots({ ...op, gateResidual: gr, gating: { mode: 'topk', k: 3 } }, [1, 3]);
    expect([...k.gateResidual!.kernel]).toEqual([5, 7, 13, 15]);
    expect(k.gating).toEqual({ mode: 'topk', k: 2 });
    expect(k.router.bias).toEqual(Float32Array.from([op.router.bias![1]!, op.router.bias![3]!]));
  });
});
