/**
 * EAQuant as a pass (method core: ./eaquant.ts): experts quantised per channel at `level.bits` as in
 * ./quantizePass.ts, and the router too, with its per-expert clipping aligned to the full-precision
 * router distribution on the calibration tokens.
 */
import type { Ffn } from '../nn/graph/evaluate.js';
import { expertSlots, type CompressionMethod } from './CompressionMethod.js';
import { alignRouterQuantization } from './eaquant.js';
import { quantizedLayer, quantizeOpExperts } from './quantizePass.js';

export const eaquant: CompressionMethod = {
  name: 'eaquant',
  summary: 'per-channel PTQ of experts and router, router clipping aligned to the full-precision router distribution (KL)',
  reference: 'Fu et al. 2025, EAQuant (darren-fzq/EAQuant), router-logit distribution alignment',
  levels: [{ bits: 8 }, { bits: 4 }, { bits: 3 }, { bits: 2 }],
  compressMoE(op, calib, level) {
    const bits = level.bits ?? 4;
    const out = quantizeOpExperts(op, () => bits, bits);
    const aligned = alignRouterQuantization(op.router, calib.x, calib.n, bits);
    const router = quantizedLayer(op.router, aligned.quant);
    const slots = expertSlots(op);
    return {
      op: { ...out, router },
      report: { layer: op.name, expertsBefore: slots.length, expertsAfter: new Set(slots.map((s) => (op.slots[s] as { ffn: Ffn }).ffn)).size, bitsPerExpert: op.slots.map((s) => (s.kind === 'expert' ? bits : null)) },
    };
  },
};
