/**
 * The latency table's op keys read an MoE op's selection and router extensions by structure: a router
 * feature that adds work (a recurrent cell, Chain-of-Experts iterations) gets its own key with no edit to the
 * table, while weight values never change a key.
 */
import { describe, expect, it } from 'vitest';
import type { DenseWeights, MoEOp } from '../nn/graph/ops.js';
import { opKey } from './LatencyTable.js';

const dense = (i: number, o: number, v = 0): DenseWeights => ({ kernel: new Float32Array(i * o).fill(v), bias: null, inDim: i, outDim: o });
const moe = (extra: Partial<MoEOp> = {}, v = 0): MoEOp => ({
  op: 'moe',
  name: 'm',
  dim: 4,
  router: dense(4, 2, v),
  slots: [
    { kind: 'expert', name: 'e0', ffn: { up: dense(4, 8, v), down: dense(8, 4, v), activation: 'relu' } },
    { kind: 'null', name: 'n0' },
  ],
  shared: [],
  gating: { mode: 'topk', k: 1 },
  normalize: false,
  ...extra,
});

describe('latency op keys', () => {
  it('differ by selection op and by router extensions, not by weight values', () => {
    const base = opKey(moe(), [4]);
    expect(opKey(moe({}, 0.5), [4])).toBe(base);
    expect(opKey(moe({ gating: { mode: 'topk', k: 2 } }), [4])).not.toBe(base);
    expect(opKey(moe({ gating: { mode: 'topp', p: 0.9, maxK: 2 } }), [4])).not.toBe(opKey(moe({ gating: { mode: 'topp', p: 0.8, maxK: 2 } }), [4]));
    const withGateResidual = opKey(moe({ gateResidual: dense(2, 2) }), [4]);
    expect(withGateResidual).not.toBe(base);
    expect(opKey(moe({ gateResidual: null }), [4])).toBe(base);
    // A wider gating-residual map is more work: another key.
    expect(opKey(moe({ gateResidual: dense(2, 3) }), [4])).not.toBe(withGateResidual);
  });
});
