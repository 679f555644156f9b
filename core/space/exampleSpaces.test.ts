import { describe, expect, it } from 'vitest';
import { archDims, decodeArch, encodeArch, largestArch, smallestArch } from './archCodec.js';
import { listExampleSpaces } from './exampleSpaces.js';
import { cardinality, validateSpace } from './validateSpace.js';

describe('listExampleSpaces', () => {
  it('ships the named examples and every one validates', () => {
    const xs = listExampleSpaces();
    expect(xs.map((x) => x.id)).toEqual(['spirals-moe', 'moe-zoo', 'fashion-mlp-supernet', 'fashion-conv-supernet', 'moe-relu-topk', 'char-lm-fortunes', 'sequence-tasks-moe', 'fashion-vit-moe', 'fashion-moe-bits']);
    for (const x of xs) {
      const r = validateSpace(x.space);
      expect(r.issues, x.id).toEqual([]);
      if (!r.ok) continue;
      expect(cardinality(r.space)).toBeGreaterThan(1);
      for (const arch of [largestArch(r.space), smallestArch(r.space)]) {
        const v = encodeArch(r.space, arch);
        expect(v.length).toBe(archDims(r.space).length);
        expect(decodeArch(r.space, v)).toEqual(arch);
      }
    }
  });

  it('returns copies, so callers may edit them', () => {
    const a = listExampleSpaces()[0]!;
    a.space.name = 'changed';
    expect(listExampleSpaces()[0]!.space.name).not.toBe('changed');
  });

  it('fashion-moe-bits searches bit widths: bits positions in the codec, float largest, fewest bits smallest', () => {
    const r = validateSpace(listExampleSpaces().find((x) => x.id === 'fashion-moe-bits')!.space);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const bits = (a: ReturnType<typeof largestArch>) => a.stages.map((s) => s.blocks[0]!.bits);
    expect(bits(largestArch(r.space))).toEqual([32, 32]);
    expect(bits(smallestArch(r.space))).toEqual([4, 2]);
    // 2 widths × 3 bits, 2 hidden × 4 bits.
    expect(cardinality(r.space)).toBe(6 * 8);
  });

  it('covers the expert kinds the moe-zoo promises', () => {
    const zoo = validateSpace(listExampleSpaces().find((x) => x.id === 'moe-zoo')!.space);
    expect(zoo.ok).toBe(true);
    if (!zoo.ok) return;
    const moe = zoo.space.stages.map((s) => s.block).filter((b) => b.type === 'moe');
    expect(moe.some((b) => b.type === 'moe' && b.routing.mode === 'topp')).toBe(true);
    expect(moe.some((b) => b.type === 'moe' && b.sharedExperts > 0 && b.segments > 1)).toBe(true);
    expect(moe.some((b) => b.type === 'moe' && b.nullExperts > 0 && b.zeroExperts > 0 && b.copyExperts > 0 && b.constantExperts > 0)).toBe(true);
  });
});
