/**
 * D²MoE nested bit widths as a pass (method core: ./d2moe.ts): each FFN expert's kernels get one 8-bit
 * per-channel code; the expert runs at the width its calibration usage earns under a mean budget of
 * `level.bits` (2/4/8), sliced from that code. Shared experts (every token uses them) stay at 8 bits.
 * Storage counts the deployed widths (the 8-bit master codes are the on-disk matryoshka).
 */
import type { DenseWeights, Ffn } from '../nn/graph/evaluate.js';
import { expertSlots, type CompressedDense, type CompressionMethod } from './CompressionMethod.js';
import { allocateBits, nestedCode, sliceCode } from './d2moe.js';
import { quantizedLayer } from './quantizePass.js';

function nestedDense(w: DenseWeights, bits: number): CompressedDense {
  return quantizedLayer(w, sliceCode(nestedCode(w.kernel, w.inDim, w.outDim), bits));
}

export const d2moe: CompressionMethod = {
  name: 'd2moe',
  summary: 'matryoshka 2/4/8-bit experts sliced from one 8-bit code, widths by expert usage under a mean-bit budget',
  reference: 'D²MoE (2025) MWQ + hottest-expert-bit-first; slicing as Matryoshka Quantization (Nair et al. 2025)',
  levels: [{ bits: 6 }, { bits: 4 }, { bits: 3 }, { bits: 2 }],
  compressMoE(op, calib, level) {
    const slots = expertSlots(op);
    const ffns = [...new Set(slots.map((s) => (op.slots[s] as { ffn: Ffn }).ffn))];
    // An expert's importance: the usage of every slot it serves.
    const importance = ffns.map((f) => slots.reduce((a, s) => a + ((op.slots[s] as { ffn: Ffn }).ffn === f ? calib.usage[s]! : 0), 0));
    const bits = allocateBits(importance, level.bits ?? 4);
    const done = new Map<Ffn, Ffn>(ffns.map((f, i) => [f, { ...f, up: nestedDense(f.up, bits[i]!), down: nestedDense(f.down, bits[i]!) }]));
    const bitsOf = (f: Ffn) => bits[ffns.indexOf(f)]!;
    return {
      op: {
        ...op,
        slots: op.slots.map((s) => (s.kind === 'expert' ? { ...s, ffn: done.get(s.ffn)! } : s)),
        shared: op.shared.map((f) => ({ ...f, up: nestedDense(f.up, 8), down: nestedDense(f.down, 8) })),
      },
      report: { layer: op.name, expertsBefore: slots.length, expertsAfter: ffns.length, bitsPerExpert: op.slots.map((s) => (s.kind === 'expert' ? bitsOf(s.ffn) : null)) },
    };
  },
};
