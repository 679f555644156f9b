/**
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
import type { DenseMatrix, ExpertFfn } from './matrix.js';
import { dequantizeKernel, quantizeKernel, type QuantizedKernel } from '../nn/graph/quantize.js';

// The kernel arithmetic lives on the graph's floor (core/nn/graph/quantize.ts) so the blocks' `bits` choice
// lowers through it too; re-exported here for the methods.
export { QUANT_BITS, channelMaxAbs, denseStorageBits, dequantizeKernel, qmaxOf, quantizeKernel, type QuantizedKernel } from '../nn/graph/quantize.js';

/** A dense layer whose kernel is replaced by its dequantised codes, with the codes kept for export and sizing. */
export interface QuantizedDense extends DenseMatrix {
  quant: QuantizedKernel;
}

export function quantizeDense(w: DenseMatrix, bits: number, clip?: ArrayLike<number>): QuantizedDense {
  const quant = quantizeKernel(w.kernel, w.inDim, w.outDim, bits, clip);
  return { kernel: dequantizeKernel(quant), bias: w.bias ? w.bias.slice() : null, inDim: w.inDim, outDim: w.outDim, quant };
}

/** Quantise both kernels of one expert at `bits` (each with its own per-channel steps). */
export function quantizeExpert<E extends ExpertFfn>(e: E, bits: number): E & { up: QuantizedDense; down: QuantizedDense } {
  return { ...e, up: quantizeDense(e.up, bits), down: quantizeDense(e.down, bits) };
}

