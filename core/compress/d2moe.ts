/**
 * D²MoE's matryoshka weight quantisation (Wang et al. 2025, "D²MoE: Dual Routing and Dynamic Scheduling
 * for Efficient On-Device MoE-based LLM Serving", MWQ + HEBF) — the bit-nesting taken from Matryoshka
 * Quantization (Nair et al. 2025, §3: an r-bit model is sliced from the c-bit codes as
 * clamp(round(q_c / 2^(c−r)))): each expert stores one 8-bit per-channel code, and its 4- or 2-bit
 * weights are slices of that code with step s₈·2^(8−b), so switching an expert's width needs no second
 * copy. Bits are given by importance (the "hottest expert, bit first" principle): experts in order of
 * calibration usage take the widest width that still leaves the rest at least the narrowest width within
 * the mean-bit budget. Deviation: D²MoE schedules widths per request at run time under a memory budget;
 * here one static allocation per budget is exported.
 */
import { qmaxOf, quantizeKernel, type QuantizedKernel } from './quantize.js';

export const NESTED_BITS = [2, 4, 8] as const;

/** The b-bit slice of an 8-bit per-channel code (symmetric: codes in [−qmax_b, qmax_b]). */
export function sliceCode(q8: QuantizedKernel, bits: number): QuantizedKernel {
  if (q8.bits !== 8) throw new Error(`slices are taken from an 8-bit code, got ${q8.bits} bits`);
  if (bits === 8) return q8;
  const shift = 2 ** (8 - bits);
  const qmax = qmaxOf(bits);
  const codes = Int8Array.from(q8.codes, (q) => Math.max(-qmax, Math.min(qmax, Math.round(q / shift))));
  return { bits, inDim: q8.inDim, outDim: q8.outDim, codes, scale: q8.scale.map((s) => Math.fround(s * shift)) };
}

/** The stored 8-bit code of a kernel, from which every width is sliced. */
export function nestedCode(kernel: ArrayLike<number>, inDim: number, outDim: number): QuantizedKernel {
  return quantizeKernel(kernel, inDim, outDim, 8);
}

/**
 * Bits per expert for a mean budget: in order of importance (ties to the lower index), each expert takes
 * the widest width such that the experts after it can still all take the narrowest.
 */
export function allocateBits(importance: readonly number[], meanBits: number, widths: readonly number[] = NESTED_BITS): number[] {
  const ws = [...widths].sort((a, b) => a - b);
  const lo = ws[0]!;
  const E = importance.length;
  if (!(meanBits >= lo)) throw new Error(`bit budget must be at least ${lo}, got ${meanBits}`);
  let left = meanBits * E;
  const order = importance.map((_, i) => i).sort((a, b) => importance[b]! - importance[a]! || a - b);
  const bits = new Array<number>(E).fill(lo);
  order.forEach((e, k) => {
    const rest = (E - k - 1) * lo;
    const b = [...ws].reverse().find((w) => w + rest <= left + 1e-9) ?? lo;
    bits[e] = b;
    left -= b;
  });
  return bits;
}
