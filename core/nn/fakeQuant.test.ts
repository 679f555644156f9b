/**
 * The blocks' `bits` choice (SimQ-NAS / One QuantLLM for All): fake quantisation with a straight-through
 * estimator. Checks: the forward equals the `quantize` compression method's round trip
 * (dequantizeKernel(quantizeKernel(W)), the same functions core/compress/quantize.ts exports); the STE
 * gradient is the identity gradient inside the clip range (an independent hand computation: ∂Σ(W̃ ⊙ R)/∂W = R);
 * a supernet's dense and MoE blocks at bits < 32 compute exactly what their lowered, quantised graph
 * computes, and train through the quantiser (gradients reach the float weights).
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { createRng } from '../space/rng.js';
import { SearchSpace, type Arch } from '../space/SearchSpace.js';
import { encodeArch } from '../space/archCodec.js';
import { fakeQuantKernel } from './fakeQuant.js';
import { runSubnetGraph, type SubnetOp } from './graph/evaluate.js';
import { dequantizeKernel, quantizeKernel, type CompressedDense } from './graph/quantize.js';
import { graphSize } from './graph/storage.js';
import { buildSupernet, subnetGraph } from './Supernet.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

function randomKernel(rows: number, cols: number, seed: number): Float32Array {
  const rng = createRng(seed);
  // Channels of very different ranges, and one all-zero channel.
  return Float32Array.from({ length: rows * cols }, (_, i) => (i % cols === 2 ? 0 : rng.normal() * (1 + (i % cols))));
}

const BITS_SPACE = SearchSpace.parse({
  name: 'bits test',
  input: { kind: 'vector', dim: 6 },
  numClasses: 3,
  stages: [
    { id: 'stem', depth: [1], block: { type: 'dense', width: [8, 12], bits: [2, 4, 32] } },
    { id: 'moe', depth: [1], block: { type: 'moe', experts: 3, expertHidden: [8], routing: { mode: 'topk', k: 2 }, sharedExperts: 1, bits: [3, 32] } },
  ],
});

describe('fake quantisation with a straight-through estimator', () => {
  it('forward equals the quantize method’s per-channel round trip at every bit width', () => {
    const [rows, cols] = [17, 6];
    const w = randomKernel(rows, cols, 3);
    for (const bits of [2, 3, 4, 8]) {
      const want = dequantizeKernel(quantizeKernel(w, rows, cols, bits));
      const got = tf.tidy(() => fakeQuantKernel(tf.tensor2d(w, [rows, cols]), bits).dataSync());
      expect(Array.from(got)).toEqual(Array.from(want));
      // Not the float kernel: the mechanism is on.
      expect(Array.from(got)).not.toEqual(Array.from(w));
    }
  });

  it('passes the identity gradient inside the clip range (∂Σ W̃⊙R / ∂W = R)', () => {
    const [rows, cols] = [9, 5];
    const w = tf.tensor2d(randomKernel(rows, cols, 8), [rows, cols]);
    const r = tf.tensor2d(randomKernel(rows, cols, 9).map((v, i) => v + 0.1 * (i + 1)), [rows, cols]);
    for (const bits of [2, 4]) {
      const g = tf.grad((x: tf.Tensor) => tf.sum(tf.mul(fakeQuantKernel(x, bits), r)))(w);
      // Min-max steps clip nothing, so the STE gradient is R everywhere (round's own gradient is 0).
      expect(Array.from(g.dataSync())).toEqual(Array.from(r.dataSync()));
    }
  });

  it('dense and MoE blocks at bits < 32 compute what their quantised lowering computes, and train', async () => {
    const net = buildSupernet(BITS_SPACE, { seed: 5 });
    const x = tf.tensor2d(randomKernel(10, 6, 11), [10, 6]);
    const arch = (bits: [number, number]): Arch => ({
      stages: [
        { depth: 1, blocks: [{ op: 'dense', width: 12, bits: bits[0] }] },
        { depth: 1, blocks: [{ expertHidden: 8, bits: bits[1] }] },
      ],
    });
    const q = arch([2, 3]);
    const f = arch([32, 32]);
    const applied = net.apply(x, q, { training: false }).logits.dataSync();
    const graph = subnetGraph(net, q);
    const lowered = runSubnetGraph(graph, x).dataSync();
    for (let i = 0; i < applied.length; i++) expect(applied[i]).toBeCloseTo(lowered[i]!, 5);
    const float = net.apply(x, f, { training: false }).logits.dataSync();
    expect(Math.max(...Array.from(applied, (v, i) => Math.abs(v - float[i]!)))).toBeGreaterThan(1e-3);
    // The lowered kernels carry their codes: the dense kernel at 2 bits, every expert (routed + shared) at 3.
    const dense = graph.ops.find((o): o is Extract<SubnetOp, { op: 'dense' }> => o.op === 'dense' && o.name.startsWith('stem'))!;
    expect((dense.weights as CompressedDense).quant?.bits).toBe(2);
    const flat = (ops: readonly SubnetOp[]): SubnetOp[] => ops.flatMap((o) => (o.op === 'residual' ? flat(o.body) : [o]));
    const moe = flat(graph.ops).find((o): o is Extract<SubnetOp, { op: 'moe' }> => o.op === 'moe')!;
    const experts = [...moe.slots.flatMap((s) => (s.kind === 'expert' ? [s.ffn] : [])), ...moe.shared];
    expect(experts).toHaveLength(4);
    for (const e of experts) for (const d of [e.up, e.down]) expect((d as CompressedDense).quant?.bits).toBe(3);
    expect((moe.router as CompressedDense).quant).toBeUndefined();
    // Fewer bits, fewer stored bits; the float subnet costs 32 a number.
    const size = (a: Arch) => graphSize(subnetGraph(net, a));
    expect(size(f).bits).toBe(32 * size(f).params);
    expect(size(q).bits).toBeLessThan(size(arch([4, 3])).bits);
    expect(size(arch([4, 3])).bits).toBeLessThan(size(f).bits);
    // The arch codec carries the choice (width, bits / hidden, bits).
    expect(encodeArch(BITS_SPACE, q)).toEqual([0, 0, 1, 0, 0, 0, 0]);
    // Gradients reach the float kernels through the quantisers (STE), so the low-bit subnet trains.
    const vars = [...net.namedVariables().entries()].filter(([n]) => n === 'stem.b0.dense.kernel' || n === 'moe.b0.moe.e0.w1' || n.includes('.e0.'));
    const { grads } = tf.variableGrads(() => tf.mean(tf.square(net.apply(x, q, { training: true }).logits)) as tf.Scalar, vars.map(([, v]) => v));
    const norms = Object.entries(grads).map(([n, g]) => [n, tf.norm(g).dataSync()[0]!] as const);
    expect(norms.length).toBeGreaterThan(1);
    for (const [, n] of norms) expect(n).toBeGreaterThan(0);
    net.dispose();
  });
});
