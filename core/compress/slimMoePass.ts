/**
 * SlimMoE as a pass (method core: ./slimMoe.ts): every FFN expert (routed and shared) keeps round(width·h)
 * hidden neurons by importance on the calibration tokens routed to it, and its down projection is refit
 * to the full expert's outputs on those tokens (one-shot distillation).
 */
import type { Ffn } from '../nn/graph/evaluate.js';
import { scalarActivation } from './activation.js';
import { expertSlots, type CompressionMethod, type MoECalibration } from './CompressionMethod.js';
import { distillDown, hiddenImportance, keptUnits, sliceHidden } from './slimMoe.js';

/** Calibration rows that selected any of `slots` (all rows when none did). */
function rowsFor(calib: MoECalibration, S: number, dim: number, slots: readonly number[]): { x: Float32Array; n: number } {
  const rows: number[] = [];
  for (let t = 0; t < calib.n; t++) if (slots.some((s) => calib.mask[t * S + s])) rows.push(t);
  if (rows.length === 0) return { x: calib.x, n: calib.n };
  const x = new Float32Array(rows.length * dim);
  rows.forEach((t, i) => x.set(calib.x.subarray(t * dim, (t + 1) * dim), i * dim));
  return { x, n: rows.length };
}

export function slimExpert(f: Ffn, x: Float32Array, n: number, width: number): Ffn {
  const act = scalarActivation(f.activation);
  const h = f.up.outDim;
  const units = keptUnits(hiddenImportance(f, act, x, n), Math.max(1, Math.min(h, Math.round(width * h))));
  return distillDown(sliceHidden(f, units), f, act, x, n);
}

export const slimMoe: CompressionMethod = {
  name: 'slimmoe',
  summary: 'slim every expert to its most important hidden neurons, refit the down projection to the full expert (one-shot distillation)',
  reference: 'Li et al. 2025, SlimMoE: Structured Compression via Expert Slimming and Distillation',
  levels: [{ width: 0.5 }, { width: 0.25 }, { width: 0.125 }],
  compressMoE(op, calib, level) {
    const width = level.width ?? 0.5;
    const S = op.slots.length;
    const slots = expertSlots(op);
    const done = new Map<Ffn, Ffn>();
    const slimSlots = op.slots.map((sl) => {
      if (sl.kind !== 'expert') return sl;
      let g = done.get(sl.ffn);
      if (!g) {
        const served = slots.filter((s) => (op.slots[s] as { ffn: Ffn }).ffn === sl.ffn);
        const r = rowsFor(calib, S, op.dim, served);
        g = slimExpert(sl.ffn, r.x, r.n, width);
        done.set(sl.ffn, g);
      }
      return { ...sl, ffn: g };
    });
    return {
      op: { ...op, slots: slimSlots, shared: op.shared.map((f) => slimExpert(f, calib.x, calib.n, width)) },
      report: { layer: op.name, expertsBefore: slots.length, expertsAfter: done.size },
    };
  },
};
