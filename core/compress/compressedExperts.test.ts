import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import type { MoEOp } from '../nn/graph/evaluate.js';
import { calibrateMoE, runPrefix } from './calibrate.js';
import { compressedExperts } from './compressedExperts.js';
import { expertForward, randomRows } from './testExperts.js';
import { tinyMoEGraph } from './testGraph.js';

await tf.setBackend('cpu');

describe('compressed experts', () => {
  it('the least used experts become the mean of their outputs over the tokens routed to them', async () => {
    const g = tinyMoEGraph(3);
    const op = (g.ops[2] as { body: MoEOp[] }).body[0]!;
    const x = tf.tensor2d(randomRows(80, 6, 4), [80, 6]);
    const h = await runPrefix(g.ops.slice(0, 2), x);
    const calib = calibrateMoE(op, h, 80);
    const { op: out } = compressedExperts.compressMoE(op, calib, { keep: 0.5 });
    const byUse = [0, 1, 2, 3].sort((a, b) => calib.usage[b]! - calib.usage[a]! || a - b);
    for (const s of [0, 1, 2, 3]) {
      const slot = out.slots[s]!;
      if (byUse.slice(0, 2).includes(s)) {
        expect(slot).toBe(op.slots[s]);
        continue;
      }
      expect(slot.kind).toBe('constant');
      // Independently: average the expert's outputs over the tokens whose mask selects slot s.
      const ffn = (op.slots[s] as { ffn: Parameters<typeof expertForward>[0] }).ffn;
      const rows = [...Array(80).keys()].filter((t) => calib.mask[t * 4 + s]);
      const mean = new Array(8).fill(0);
      for (const t of rows) {
        const y = expertForward(ffn, h.subarray(t * 8, (t + 1) * 8), 1);
        y.forEach((v, j) => (mean[j] += v / rows.length));
      }
      const value = (slot as { value: Float32Array }).value;
      mean.forEach((v, j) => expect(value[j]).toBeCloseTo(v, 5));
    }
    x.dispose();
  });
});
