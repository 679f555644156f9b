/**
 * Expert quantisation as a pass (method core: ./quantize.ts): every FFN expert of every MoE op — routed
 * and shared — gets per-channel `level.bits`-bit weights; the router stays float (EAQuant's router-logit
 * alignment is the separate step for it). Each kernel keeps its codes and steps (`quant`) so the ONNX
 * writer can emit them as int8 initialisers behind DequantizeLinear.
 */
import type { Ffn } from '../nn/graph/evaluate.js';
import { quantizeOpExperts } from '../nn/graph/quantize.js';
import { expertSlots, type CompressionMethod } from './CompressionMethod.js';

// The graph-level quantisers live beside the kernel arithmetic (core/nn/graph/quantize.ts): the blocks'
// `bits` choice lowers through them too.
export { quantizedDense, quantizedLayer, quantizeOpExperts } from '../nn/graph/quantize.js';

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
