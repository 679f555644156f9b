import { describe, expect, it } from 'vitest';
import { createRng } from '../space/rng.js';
import type { DenseMatrix } from './matrix.js';
import { clusterByOutputs, jointSvdMerge } from './subMoe.js';

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

function randomDense(inDim: number, outDim: number, seed: number): DenseMatrix {
  const rng = createRng(seed);
  return { kernel: Float32Array.from({ length: inDim * outDim }, () => rng.normal()), bias: Float32Array.from({ length: outDim }, () => rng.normal()), inDim, outDim };
}

describe('Sub-MoE', () => {
  it('at full rank the joint-SVD merge is the usage-weighted average', () => {
    const layers = [randomDense(5, 4, 1), randomDense(5, 4, 2), randomDense(5, 4, 3)];
    const w = [0.5, 0.3, 0.2];
    const m = jointSvdMerge(layers, [5, 3, 2], 99);
    const avg = layers[0]!.kernel.map((_, i) => layers.reduce((s, l, k) => s + w[k]! * l.kernel[i]!, 0));
    expect(maxDiff(m.dense.kernel, avg)).toBeLessThan(1e-5);
    expect(maxDiff(m.dense.bias!, layers[0]!.bias!.map((_, o) => layers.reduce((s, l, k) => s + w[k]! * l.bias![o]!, 0)))).toBeLessThan(1e-6);
    expect(m.rank).toBe(4);
  });

  it('experts sharing an r-dimensional output subspace merge exactly at rank r, and lose it below', () => {
    // kernel_iᵀ = A·B_i with A [out 6, r 2] shared, B_i [2, in 4] expert-specific.
    const rng = createRng(7);
    const A = Array.from({ length: 12 }, () => rng.normal());
    const layers = [0, 1].map(() => {
      const B = Array.from({ length: 8 }, () => rng.normal());
      const kernel = new Float32Array(4 * 6);
      for (let i = 0; i < 4; i++) for (let o = 0; o < 6; o++) kernel[i * 6 + o] = A[o * 2]! * B[i]! + A[o * 2 + 1]! * B[4 + i]!;
      return { kernel, bias: null, inDim: 4, outDim: 6 };
    });
    const avg = layers[0]!.kernel.map((v, i) => 0.25 * v + 0.75 * layers[1]!.kernel[i]!);
    const r2 = jointSvdMerge(layers, [1, 3], 2);
    expect(maxDiff(r2.dense.kernel, avg)).toBeLessThan(1e-5);
    expect(r2.spectrum[2]!).toBeLessThan(1e-6);
    expect(r2.storedParams).toBe(2 * (4 + 6) + 2);
    expect(maxDiff(jointSvdMerge(layers, [1, 3], 1).dense.kernel, avg)).toBeGreaterThan(1e-2);
  });

  it('clusters experts by the cosine similarity of their outputs', () => {
    const base = [Float64Array.from([1, 0, 1, 0]), Float64Array.from([0, 1, 0, -1])];
    // outputs[i] belongs to slot [0, 1, 3, 5][i]; usage is indexed by slot.
    const outputs = [base[0]!, base[1]!, base[1]!.map((v) => 0.5 * v - 0.02), base[0]!.map((v) => 2 * v + 0.05)];
    const usage = [9, 1, 0, 8, 0, 2];
    // Seeds are the two most used slots (0 and 3); slot 5 follows slot 0's outputs, slot 1 slot 3's.
    expect(clusterByOutputs(outputs, [0, 1, 3, 5], usage, 2)).toEqual([[0, 5], [3, 1]]);
  });
});
