import { describe, expect, it } from 'vitest';
import { createRng } from '../space/rng.js';
import { channelMaxAbs, dequantizeKernel, denseStorageBits, quantizeDense, quantizeKernel } from './quantize.js';

function kernelWithChannelScales(inDim: number, scales: number[], seed: number): Float32Array {
  const rng = createRng(seed);
  const outDim = scales.length;
  const k = new Float32Array(inDim * outDim);
  for (let i = 0; i < inDim; i++) for (let c = 0; c < outDim; c++) k[i * outDim + c] = rng.normal() * scales[c]!;
  return k;
}

describe('per-channel PTQ', () => {
  it.each([2, 3, 4, 8])('every weight round-trips within half of its own channel step at %i bits', (bits) => {
    // Channels four orders of magnitude apart: a per-tensor step would be ~1e4 times too coarse for channel 0.
    const inDim = 16;
    const scales = [1e-3, 1, 10, 0.05];
    const k = kernelWithChannelScales(inDim, scales, bits);
    const q = quantizeKernel(k, inDim, scales.length, bits);
    const back = dequantizeKernel(q);
    const qmax = 2 ** (bits - 1) - 1;
    // The step computed independently: this channel's max |w| / qmax.
    const maxAbs = channelMaxAbs(k, inDim, scales.length);
    for (let c = 0; c < scales.length; c++) {
      const step = maxAbs[c]! / qmax;
      expect(q.scale[c]!).toBeCloseTo(step, 6 + Math.round(-Math.log10(step)));
      for (let i = 0; i < inDim; i++) {
        const j = i * scales.length + c;
        expect(Math.abs(back[j]! - k[j]!)).toBeLessThanOrEqual(step / 2 * (1 + 1e-6));
        expect(Math.abs(q.codes[j]!)).toBeLessThanOrEqual(qmax);
      }
    }
  });

  it('clipping shrinks the step and saturates the codes beyond the clipped range', () => {
    const k = Float32Array.from([4, -1, 0.5, 2]); // [4, 1]
    const q = quantizeKernel(k, 4, 1, 3, [0.5]);
    expect(q.scale[0]).toBeCloseTo((0.5 * 4) / 3, 6);
    expect(q.codes[0]).toBe(3); // 4 / 0.667 = 6 → clamped to qmax 3
  });

  it('an all-zero channel dequantises to exact zeros; storage counts bits, steps and biases', () => {
    const d = quantizeDense({ kernel: new Float32Array(6), bias: Float32Array.from([1, 2]), inDim: 3, outDim: 2 }, 4);
    expect([...d.kernel]).toEqual([0, 0, 0, 0, 0, 0]);
    expect(denseStorageBits(d)).toBe(4 * 6 + 32 * 2 + 32 * 2);
    expect(denseStorageBits({ kernel: new Float32Array(6), bias: null, inDim: 3, outDim: 2 })).toBe(32 * 6);
  });

  it('names the bad argument', () => {
    expect(() => quantizeKernel(new Float32Array(4), 2, 2, 9)).toThrow(/bits/);
    expect(() => quantizeKernel(new Float32Array(4), 2, 2, 4, [1, 0])).toThrow(/clip\[1\]/);
    expect(() => quantizeKernel(new Float32Array(3), 2, 2, 4)).toThrow(/2×2/);
  });
});
