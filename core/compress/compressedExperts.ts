/**
 * Compressed experts (He et al. 2025, "Efficiently Editing Mixture-of-Experts Models with Compressed
 * Experts"; code yifei-he/Compressed-Experts): the most important experts stay whole and the auxiliary
 * ones are replaced by compact stand-ins. Here a stand-in is a single vector c (the graph's constant
 * expert: the slot adds g·c), fitted in closed form as the least-squares constant for the expert's
 * outputs on the calibration tokens routed to it — c = mean_t E(x_t) minimises Σ_t ‖E(x_t) − c‖². Its
 * router column stays, so the gate still decides how much of c a token gets.
 * Deviation: the paper learns the compressed experts (small modules) by fine-tuning; this is the one-shot,
 * training-free fit. Importance is calibration usage.
 */
import { scalarActivation } from './activation.js';
import { expertSlots, keptCount, type CompressionMethod } from './CompressionMethod.js';
import { denseForward, type ExpertFfn } from './matrix.js';
import type { Ffn, MoESlot } from '../nn/graph/evaluate.js';

/** Mean output of an expert over the rows of x [n, dim] (the least-squares constant). */
export function meanExpertOutput(e: ExpertFfn, act: (v: number) => number, x: ArrayLike<number>, n: number): Float32Array {
  const y = denseForward(denseForward(x, n, e.up, act), n, e.down);
  const d = e.down.outDim;
  const out = new Float64Array(d);
  for (let t = 0; t < n; t++) for (let j = 0; j < d; j++) out[j]! += y[t * d + j]! / n;
  return Float32Array.from(out);
}

export const compressedExperts: CompressionMethod = {
  name: 'compressed-experts',
  summary: 'keep the most used experts, replace the rest by least-squares constant vectors (router columns kept)',
  reference: 'He et al. 2025, Efficiently Editing MoE Models with Compressed Experts (yifei-he/Compressed-Experts)',
  levels: [{ keep: 0.75 }, { keep: 0.5 }, { keep: 0.25 }],
  compressMoE(op, calib, level) {
    const slots = expertSlots(op);
    const S = op.slots.length;
    const byUse = [...slots].sort((a, b) => calib.usage[b]! - calib.usage[a]! || a - b);
    const whole = new Set(byUse.slice(0, keptCount(slots.length, level.keep)));
    const newSlots: MoESlot[] = op.slots.map((sl, s) => {
      if (sl.kind !== 'expert' || whole.has(s)) return sl;
      const rows: number[] = [];
      for (let t = 0; t < calib.n; t++) if (calib.mask[t * S + s]) rows.push(t);
      // An expert no calibration token chose: its mean output over all tokens.
      const use = rows.length > 0 ? rows : Array.from({ length: calib.n }, (_, t) => t);
      const x = new Float32Array(use.length * op.dim);
      use.forEach((t, i) => x.set(calib.x.subarray(t * op.dim, (t + 1) * op.dim), i * op.dim));
      const f: Ffn = sl.ffn;
      return { kind: 'constant', name: sl.name, value: meanExpertOutput(f, scalarActivation(f.activation), x, use.length) };
    });
    return {
      op: { ...op, slots: newSlots },
      report: { layer: op.name, expertsBefore: slots.length, expertsAfter: whole.size, groups: [[...whole].sort((a, b) => a - b)] },
    };
  },
};
