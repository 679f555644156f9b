import { describe, expect, it } from 'vitest';
import type { EvaluatedSubnet } from '../../../core/protocol/protocol.js';
import { subnetsCsv } from './subnetsCsv.js';

const sub = (id: number, extra: Partial<EvaluatedSubnet> = {}): EvaluatedSubnet => ({
  id, arch: { stages: [{ depth: 1, blocks: [{ width: 8 }] }] } as unknown as EvaluatedSubnet['arch'], vector: [1, 0], accuracy: 0.5, latencyMs: 1.5,
  params: 100, flops: 200, generation: 0, feasible: true, ...extra,
});

describe('subnetsCsv', () => {
  it('writes one row per subnet by id, with the interval and front membership', () => {
    const csv = subnetsCsv([sub(2, { feasible: false }), sub(1, { ci95: [0.4, 0.6], n: 100, split: 'val', bits: 3200 })], [1]);
    const [head, r1, r2] = csv.trim().split('\n');
    expect(head!.split(',').slice(0, 7)).toEqual(['id', 'generation', 'accuracy', 'split', 'n', 'ci95_low', 'ci95_high']);
    // Size as stored in bits after FLOPs (the bits objective); empty for searches from before it.
    expect(r1!.startsWith('1,0,0.5,val,100,0.4,0.6,1.5,,100,200,3200,true,true,,')).toBe(true);
    expect(r1!.endsWith(',1 0')).toBe(true);
    expect(r2!.startsWith('2,0,0.5,,,,,1.5,,100,200,,false,false,,')).toBe(true);
  });
});
