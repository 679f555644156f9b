import { describe, expect, it } from 'vitest';
import { createRng } from '../space/rng.js';
import { allocateBits, nestedCode, sliceCode } from './d2moe.js';
import { dequantizeKernel } from './quantize.js';

describe('D²MoE nested bits', () => {
  it('the 4- and 2-bit weights are slices of the one 8-bit code, within both steps of the weights', () => {
    const rng = createRng(2);
    const [inDim, outDim] = [12, 3];
    const k = Float32Array.from({ length: inDim * outDim }, () => rng.normal());
    const q8 = nestedCode(k, inDim, outDim);
    for (const bits of [4, 2]) {
      const q = sliceCode(q8, bits);
      const shift = 2 ** (8 - bits);
      const qmax = 2 ** (bits - 1) - 1;
      const w = dequantizeKernel(q);
      for (let i = 0; i < k.length; i++) {
        // Independently: round the stored 8-bit code, not the float weight.
        const expected = Math.max(-qmax, Math.min(qmax, Math.round(q8.codes[i]! / shift)));
        expect(q.codes[i]).toBe(expected + 0);
        const c = i % outDim;
        if (Math.abs(Math.round(q8.codes[i]! / shift)) <= qmax) {
          expect(Math.abs(w[i]! - k[i]!)).toBeLessThanOrEqual((q8.scale[c]! / 2 + q.scale[c]! / 2) * (1 + 1e-6));
        }
      }
      expect(q.scale[0]).toBeCloseTo(q8.scale[0]! * shift, 6);
    }
    expect(sliceCode(q8, 8)).toBe(q8);
  });

  it('hotter experts never get fewer bits, and the mean stays within the budget', () => {
    const usage = [0.05, 0.4, 0.1, 0.3, 0.15];
    for (const budget of [2, 3, 4, 5, 8]) {
      const b = allocateBits(usage, budget);
      expect(b.reduce((s, x) => s + x, 0) / b.length).toBeLessThanOrEqual(budget);
      for (let i = 0; i < usage.length; i++) for (let j = 0; j < usage.length; j++) if (usage[i]! > usage[j]!) expect(b[i]!).toBeGreaterThanOrEqual(b[j]!);
    }
    expect(allocateBits(usage, 4)).toEqual([2, 8, 2, 4, 4]);
    expect(allocateBits(usage, 8)).toEqual([8, 8, 8, 8, 8]);
    expect(() => allocateBits(usage, 1)).toThrow(/budget/);
  });
});
