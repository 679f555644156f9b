/**
 * Top-p selection written out: slot i is kept when the probability mass ranked above it is below p, and
 * its rank is below maxK (the exclusive float32 cumsum rule of core/nn/moe/routers.ts topPMask).
 */
import { OnnxDataType } from '../onnxProto.js';
import { attrInt } from '../onnxBuilder.js';
import { K_CMP } from '../tfjsBuilder.js';
import type { SelectionWriter } from './selection.js';
import { pairwiseRanks } from './tfjsRanks.js';

export const topp: SelectionWriter<'topp'> = {
  mode: 'topp',
  tfjs: (b, probs, gating, s, n) => {
    const { pairs, cmp, rankMask } = pairwiseRanks(b, probs, s, undefined, n);
    // beats[i·s + j] = [slot j ranks above slot i]
    const beatsK = new Float32Array(pairs.length * s * s);
    const beatsB = new Float32Array(s * s);
    pairs.forEach(([i, j], c) => {
      beatsK[c * s * s + (i * s + j)] = 1; // j above i  ⇔ p_j > p_i
      beatsK[c * s * s + (j * s + i)] = -1; // i above j ⇔ not (p_j > p_i)
      beatsB[j * s + i] = 1;
    });
    const beats = b.fixed(cmp, beatsK, pairs.length, s * s, beatsB, `${n}_beats`);
    const tileK = new Float32Array(s * s * s);
    for (let i = 0; i < s; i++) for (let j = 0; j < s; j++) tileK[j * s * s + (i * s + j)] = 1;
    const tiled = b.fixed(probs, tileK, s, s * s, null, `${n}_ptile`);
    const weighted = b.multiply(beats, tiled, `${n}_above_p`);
    const sumK = new Float32Array(s * s * s);
    for (let i = 0; i < s; i++) for (let j = 0; j < s; j++) sumK[(i * s + j) * s + i] = 1;
    const above = b.fixed(weighted, sumK, s * s, s, null, `${n}_mass_above`);
    const thrK = new Float32Array(s * s);
    for (let i = 0; i < s; i++) thrK[i * s + i] = -K_CMP;
    const pMask = b.clip01(b.fixed(above, thrK, s, s, new Float32Array(s).fill(K_CMP * gating.p), `${n}_pmask_lin`), `${n}_pmask`);
    if (gating.maxK >= s) return pMask;
    return b.minimum(pMask, rankMask(gating.maxK, `${n}_kmask`), `${n}_mask`);
  },
  onnx: (g, probs, gating, s, n) => {
    const [values, indices] = g.node('TopK', [probs, g.ints([s])], [attrInt('axis', -1), attrInt('largest', 1), attrInt('sorted', 1)], 2, `${n}.sort`);
    // Mass ranked above each sorted position: exclusive cumulative sum.
    const above = g.one('CumSum', [values!, g.intScalar(1)], [attrInt('exclusive', 1)], `${n}.above`);
    let keep = g.one('Cast', [g.one('Less', [above, g.scalar(gating.p)])], [attrInt('to', OnnxDataType.FLOAT)], `${n}.keep`);
    const maxK = gating.maxK;
    if (maxK < s) {
      const rankMask = g.weight(`${n}.maxk`, [1, s], Array.from({ length: s }, (_, r) => (r < maxK ? 1 : 0)));
      keep = g.one('Mul', [keep, rankMask], [], `${n}.keep`);
    }
    const zeros = g.one('Mul', [probs, g.scalar(0)], [], `${n}.zeros`);
    return g.one('ScatterElements', [zeros, indices!, keep], [attrInt('axis', 1)], `${n}.mask`);
  },
};
