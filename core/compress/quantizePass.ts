/**
 * Expert quantisation as a pass (method core: ./quantize.ts): every FFN expert of every MoE op — routed
 * and shared — gets per-channel `level.bits`-bit weights; the router stays float (EAQuant's router-logit
 * alignment is the separate step for it). Each kernel keeps its codes and steps (`quant`) so the ONNX
 * writer can emit them as int8 initialisers behind DequantizeLinear.
 */
import type { DenseWeights, Ffn, MoEOp } from '../nn/graph/evaluate.js';
import { expertSlots, type CompressedDense, type CompressionMethod } from './CompressionMethod.js';
import { denseStorageBits, dequantizeKernel, quantizeKernel, type QuantizedKernel } from './quantize.js';

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

export const expertQuantization: CompressionMethod = {
  name: 'quantize',
  summary: 'per-expert, per-channel post-training weight quantisation (int8 storage, QuantizeLinear/DequantizeLinear in ONNX)',
  reference: 'Nagel et al. 2021, A White Paper on Neural Network Quantization; per-expert PTQ as in EAQuant (Fu et al. 2025)',
  levels: [{ bits: 8 }, { bits: 4 }, { bits: 3 }, { bits: 2 }],
  compressMoE(op, _calib, level) {
    const bits = level.bits ?? 8;
    const out = quantizeOpExperts(op, () => bits, bits);
    const slots = expertSlots(op);
    return {
      op: out,
      report: { layer: op.name, expertsBefore: slots.length, expertsAfter: new Set(slots.map((s) => (op.slots[s] as { ffn: Ffn }).ffn)).size, bitsPerExpert: op.slots.map((s) => (s.kind === 'expert' ? bits : null)) },
    };
  },
};
