/** Top-k selection written out: the k highest-ranked slots (of p, or p + b with a loss-free bias). */
import { attrInt } from '../onnxBuilder.js';
import type { SelectionWriter } from './selection.js';
import { pairwiseRanks } from './tfjsRanks.js';

export const topk: SelectionWriter<'topk'> = {
  mode: 'topk',
  tfjs: (b, probs, gating, s, n) => pairwiseRanks(b, probs, s, gating.bias, n).rankMask(Math.min(gating.k, s), `${n}_mask`),
  onnx: (g, probs, gating, s, n) => {
    const k = Math.min(gating.k, s);
    // Auxiliary-loss-free balancing: rank by probs + bias; the gates stay the probabilities.
    const scores = gating.bias ? g.one('Add', [probs, g.weight(`${n}.select_bias`, [1, s], gating.bias)], [], `${n}.scores`) : probs;
    const [values, indices] = g.node('TopK', [scores, g.ints([k])], [attrInt('axis', -1), attrInt('largest', 1), attrInt('sorted', 1)], 2, `${n}.topk`);
    const ones = g.one('Add', [g.one('Mul', [values!, g.scalar(0)]), g.scalar(1)], [], `${n}.ones`);
    const zeros = g.one('Mul', [probs, g.scalar(0)], [], `${n}.zeros`);
    return g.one('ScatterElements', [zeros, indices!, ones], [attrInt('axis', 1)], `${n}.mask`);
  },
};
