import { describe, expect, it } from 'vitest';
import type { EvaluatedSubnet } from '../../../core/protocol/protocol.js';
import { accuracyText, describeArch, frontPoints, maximised, objectiveValue } from './objectives.js';

const sub = (id: number, latencyMs: number): EvaluatedSubnet => ({
  id, arch: { stages: [{ depth: 2, blocks: [{ width: 64 }, { op: 'identity' }] }, { depth: 1, blocks: [{ expertHidden: 128 }] }] },
  vector: [], accuracy: 0.5 + id / 10, latencyMs, params: 100 * id, flops: 1000 * id, generation: 0, feasible: true,
});

describe('objectives', () => {
  it('reads each objective and knows which is maximised', () => {
    const s = sub(2, 3);
    expect(['accuracy', 'latency', 'params', 'flops'].map((o) => objectiveValue(s, o as never))).toEqual([0.7, 3, 200, 2000]);
    expect(maximised('accuracy')).toBe(true);
    expect(maximised('latency')).toBe(false);
  });
  it('orders the front along x and skips non-members', () => {
    expect(frontPoints([sub(1, 5), sub(2, 1), sub(3, 3)], [1, 2], 'latency').map((s) => s.id)).toEqual([2, 1]);
  });
  it('shows an accuracy with its split, sample count and interval when recorded', () => {
    expect(accuracyText({ accuracy: 0.853, split: 'val', n: 5000, ci95: [0.8430, 0.8627] })).toBe('85.3 % ± 1.0 (val, n=5000)');
    expect(accuracyText({ accuracy: 0.853 })).toBe('0.853');
  });
  it('describes an architecture in one line', () => {
    expect(describeArch(sub(1, 1))).toBe('d2[64,identity] | d1[e128]');
  });
});
