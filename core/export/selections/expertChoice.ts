/**
 * Expert-choice selection written out (Zhou et al., 2022; capped variant core/nn/routers/cappedExpertChoice.ts):
 * each slot takes its C = clamp(round(cf·N/S), 1, N) highest tokens of the batch. Batch-dependent, so only
 * ONNX (whose graph sees the batch axis) expresses it; a tfjs LayersModel (per-sample layers) cannot.
 */
import { OnnxDataType } from '../onnxProto.js';
import { attrInt, attrInts, type GraphBuilder } from '../onnxBuilder.js';
import type { SelectionWriter } from './selection.js';

/**
 * The capped expert-choice program's Dykstra iterations (core/nn/routers/cappedExpertChoice.ts
 * cappedAssignmentTensor), unrolled: the same float32 steps in the same order.
 */
function cappedAssignmentOnnx(g: GraphBuilder, probs: string, capacity: string, cap: { maxPerToken: number; entropy: number; iterations: number }, n: string): string {
  const sum = (t: string, axis: number, name: string) => g.one('ReduceSum', [t, g.ints([axis])], [attrInt('keepdims', 1)], name);
  const safe = (t: string, name: string) => g.one('Max', [t, g.scalar(1e-30)], [], name);
  const max0 = g.one('ReduceMax', [probs], [attrInts('axes', [0]), attrInt('keepdims', 1)], `${n}.cap_max`);
  let a = g.one('Exp', [g.one('Div', [g.one('Sub', [probs, max0]), g.scalar(cap.entropy)])], [], `${n}.cap_a0`);
  const ones = g.one('Add', [g.one('Mul', [probs, g.scalar(0)]), g.scalar(1)], [], `${n}.cap_ones0`);
  let qCap = ones;
  let qBox = ones;
  for (let it = 0; it < cap.iterations; it++) {
    const p = `${n}.cap${it}`;
    a = g.one('Mul', [a, g.one('Div', [capacity, safe(sum(a, 0, `${p}.col`), `${p}.col_safe`)])], [], `${p}.rows`);
    let y = g.one('Mul', [a, qCap], [], `${p}.y_cap`);
    const scale = g.one('Min', [g.one('Div', [g.scalar(cap.maxPerToken), safe(sum(y, 1, `${p}.row`), `${p}.row_safe`)]), g.scalar(1)], [], `${p}.cap_scale`);
    a = g.one('Mul', [y, scale], [], `${p}.capped`);
    qCap = g.one('Div', [y, safe(a, `${p}.a_safe`)], [], `${p}.q_cap`);
    y = g.one('Mul', [a, qBox], [], `${p}.y_box`);
    a = g.one('Min', [y, g.scalar(1)], [], `${p}.box`);
    qBox = g.one('Div', [y, safe(a, `${p}.b_safe`)], [], `${p}.q_box`);
  }
  return a;
}

export const expertChoice: SelectionWriter<'expert-choice'> = {
  mode: 'expert-choice',
  tfjsUnsupported: 'expert-choice routing picks tokens across the batch, which a tfjs LayersModel (per-sample layers) cannot express; export it as ONNX',
  onnx: (g, probs, gating, s, n) => {
    // C = clamp(floor(cf·N/S + 0.5), 1, N) — floor(x + ½) is JavaScript's Math.round for x ≥ 0.
    const nTokens = g.one('Cast', [g.one('Gather', [g.one('Shape', [probs]), g.intScalar(0)])], [attrInt('to', OnnxDataType.FLOAT)], `${n}.tokens`);
    const c = g.one('Floor', [g.one('Add', [g.one('Mul', [nTokens, g.scalar(gating.capacityFactor / s)]), g.scalar(0.5)])], [], `${n}.capacity`);
    const clamped = g.one('Min', [g.one('Max', [c, g.scalar(1)]), nTokens], [], `${n}.capacity`);
    const kTensor = g.one('Reshape', [g.one('Cast', [clamped], [attrInt('to', OnnxDataType.INT64)]), g.ints([1])], [], `${n}.capacity`);
    // Capped expert choice: the experts choose by the Dykstra solution A of the capped program, unrolled.
    const cap = gating.cap;
    const source = cap ? cappedAssignmentOnnx(g, probs, clamped, cap, n) : probs;
    const byToken = g.one('Transpose', [source], [attrInts('perm', [1, 0])], `${n}.slot_major`);
    const [values, indices] = g.node('TopK', [byToken, kTensor], [attrInt('axis', 1), attrInt('largest', 1), attrInt('sorted', 1)], 2, `${n}.choose`);
    const ones = g.one('Add', [g.one('Mul', [values!, g.scalar(0)]), g.scalar(1)], [], `${n}.ones`);
    const zerosT = g.one('Mul', [byToken, g.scalar(0)], [], `${n}.zeros_t`);
    let mask = g.one('Transpose', [g.one('ScatterElements', [zerosT, indices!, ones], [attrInt('axis', 1)])], [attrInts('perm', [1, 0])], `${n}.mask`);
    if (cap) {
      // A token still above the cap keeps its b chosen slots of largest A (unchosen ranked below: A ≤ 1 < 2).
      const ranked = g.one('Sub', [g.one('Add', [source, g.one('Mul', [mask, g.scalar(2)])]), g.scalar(2)], [], `${n}.cap_rank`);
      const [kept, keptIdx] = g.node('TopK', [ranked, g.ints([Math.min(cap.maxPerToken, s)])], [attrInt('axis', -1), attrInt('largest', 1), attrInt('sorted', 1)], 2, `${n}.cap_keep`);
      const keepOnes = g.one('Add', [g.one('Mul', [kept!, g.scalar(0)]), g.scalar(1)], [], `${n}.cap_ones`);
      const zeros = g.one('Mul', [probs, g.scalar(0)], [], `${n}.zeros`);
      mask = g.one('Mul', [mask, g.one('ScatterElements', [zeros, keptIdx!, keepOnes], [attrInt('axis', 1)])], [], `${n}.mask`);
    }
    return mask;
  },
};
