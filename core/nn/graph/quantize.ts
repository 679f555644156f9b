/**
 * Weight quantisation of the subnet graph's dense layers (moved here from core/compress/quantize.ts so the
 * blocks' `bits` choice, core/nn/blocks, lowers through the same arithmetic as the compression methods).
 * Expert quantisation: per-expert, per-output-channel symmetric post-training quantisation of weight
 * kernels (weight-only, round to nearest, zero point 0 — the scheme ONNX QuantizeLinear/DequantizeLinear
 * express with a per-axis scale; Jacob et al. 2018, Nagel et al. 2021 "A White Paper on Neural Network
 * Quantization" §2–3). Each output channel c (column c of the [inDim, outDim] kernel) gets its own step
 * s_c = clip_c · max_i |W[i, c]| / qmax with qmax = 2^(bits−1) − 1, so a channel of small weights is not
 * crushed by another channel's outlier; codes are clamp(round(W / s_c), −qmax, qmax) and every
 * unclipped weight round-trips within s_c / 2. Biases stay float (as in weight-only PTQ).
 *
 * Steps are rounded to float32 so that q·s computed here equals what onnxruntime's DequantizeLinear
 * computes from the exported int8 codes and float32 scales, bit for bit.
 */
import type { DenseWeights, Ffn, MoEOp, SubnetOp } from './ops.js';

export const QUANT_BITS = [2, 3, 4, 8] as const;

export interface QuantizedKernel {
  bits: number;
  inDim: number;
  outDim: number;
  /** Codes [inDim, outDim] row-major, each in [−qmax, qmax] (int8 storage for every bit width ≤ 8). */
  codes: Int8Array;
  /** Step per output channel (float32). */
  scale: Float32Array;
}

export function qmaxOf(bits: number): number {
  if (!Number.isInteger(bits) || bits < 2 || bits > 8) throw new Error(`bits must be an integer in [2, 8], got ${bits}`);
  return 2 ** (bits - 1) - 1;
}

/** Largest |W[i, c]| of each output channel c. */
export function channelMaxAbs(kernel: ArrayLike<number>, inDim: number, outDim: number): Float64Array {
  const m = new Float64Array(outDim);
  for (let i = 0; i < inDim; i++) for (let c = 0; c < outDim; c++) m[c] = Math.max(m[c]!, Math.abs(kernel[i * outDim + c]!));
  return m;
}

/**
 * Quantise a kernel per output channel. `clip[c]` ∈ (0, 1] shrinks channel c's range (1 = min-max, the
 * default); EAQuant chooses it for the router.
 */
export function quantizeKernel(kernel: ArrayLike<number>, inDim: number, outDim: number, bits: number, clip?: ArrayLike<number>): QuantizedKernel {
  if (kernel.length !== inDim * outDim) throw new Error(`kernel has ${kernel.length} values, expected ${inDim}×${outDim}`);
  const qmax = qmaxOf(bits);
  const maxAbs = channelMaxAbs(kernel, inDim, outDim);
  const scale = new Float32Array(outDim);
  for (let c = 0; c < outDim; c++) {
    const ratio = clip ? clip[c]! : 1;
    if (!(ratio > 0 && ratio <= 1)) throw new Error(`clip[${c}] must be in (0, 1], got ${ratio}`);
    // An all-zero channel gets step 1: its codes are 0 and it dequantises to exact zeros.
    scale[c] = maxAbs[c]! > 0 ? Math.fround((ratio * maxAbs[c]!) / qmax) : 1;
  }
  const codes = new Int8Array(inDim * outDim);
  for (let i = 0; i < inDim; i++) {
    for (let c = 0; c < outDim; c++) {
      // floor(W/s + ½) in float32, as the fake-quantised forward (core/nn/fakeQuant.ts) computes it: rounding the
      // double quotient instead picks the other code where W/s lies within float32 rounding of a half.
      const q = Math.floor(Math.fround(Math.fround(kernel[i * outDim + c]! / scale[c]!) + 0.5));
      codes[i * outDim + c] = Math.max(-qmax, Math.min(qmax, q));
    }
  }
  return { bits, inDim, outDim, codes, scale };
}

/** W ≈ q·s per channel, in float32 (what DequantizeLinear computes). */
export function dequantizeKernel(q: QuantizedKernel): Float32Array {
  const out = new Float32Array(q.codes.length);
  for (let i = 0; i < q.inDim; i++) for (let c = 0; c < q.outDim; c++) out[i * q.outDim + c] = q.codes[i * q.outDim + c]! * q.scale[c]!;
  return out;
}

/** How many numbers and bits a dense layer really stores (compression annotates the layers it rewrites). */
export interface WeightStorage {
  /** Numbers stored (codes, factors or non-zeros; biases included). */
  params: number;
  bits: number;
}

/** A dense layer as a compression method (or a block's `bits` choice) leaves it. */
export type CompressedDense = DenseWeights & { storage?: WeightStorage; quant?: QuantizedKernel };

/** Storage in bits of a dense layer: codes at their width + float32 steps + float32 bias; float32 when not quantised. */
export function denseStorageBits(w: DenseWeights & { quant?: QuantizedKernel }): number {
  const bias = 32 * (w.bias?.length ?? 0);
  if (!w.quant) return 32 * w.kernel.length + bias;
  return w.quant.bits * w.quant.codes.length + 32 * w.quant.scale.length + bias;
}

/** `w` computing with the dequantised `quant` codes, annotated with them and their storage. */
export function quantizedLayer(w: DenseWeights, quant: QuantizedKernel): CompressedDense {
  const d = { kernel: dequantizeKernel(quant), bias: w.bias ? w.bias.slice() : null, inDim: w.inDim, outDim: w.outDim, quant };
  return { ...d, storage: { params: w.kernel.length + (w.bias?.length ?? 0), bits: denseStorageBits(d) } };
}

export function quantizedDense(w: DenseWeights, bits: number): CompressedDense {
  return quantizedLayer(w, quantizeKernel(w.kernel, w.inDim, w.outDim, bits));
}

/** Quantise every distinct FFN of an op at the bits `bitsOf(slot)` gives (shared experts: `sharedBits`). */
export function quantizeOpExperts(op: MoEOp, bitsOf: (slot: number) => number, sharedBits: number): MoEOp {
  const done = new Map<Ffn, Ffn>();
  const q = (f: Ffn, bits: number): Ffn => {
    let g = done.get(f);
    if (!g) {
      g = { ...f, up: quantizedDense(f.up, bits), down: quantizedDense(f.down, bits) };
      done.set(f, g);
    }
    return g;
  };
  return {
    ...op,
    slots: op.slots.map((s, i) => (s.kind === 'expert' ? { ...s, ffn: q(s.ffn, bitsOf(i)) } : s)),
    shared: op.shared.map((f) => q(f, sharedBits)),
  };
}

/**
 * A block's lowered ops at weight width `bits` (its `bits` choice): dense kernels and the FFN experts of MoE
 * ops (routed and shared) quantised per output channel; routers, biases and everything else stay float.
 * 32 (or undefined) leaves the ops float.
 */
export function quantizeBlockOps(ops: readonly SubnetOp[], bits: number | undefined): SubnetOp[] {
  if (bits === undefined || bits >= 32) return [...ops];
  return ops.map((o): SubnetOp => {
    if (o.op === 'dense') return { ...o, weights: quantizedDense(o.weights, bits) };
    if (o.op === 'moe') return quantizeOpExperts(o, () => bits, bits) as SubnetOp;
    if (o.op === 'residual') return { ...o, body: quantizeBlockOps(o.body, bits) };
    return o;
  });
}
