import { describe, expect, it } from 'vitest';
import { archDims, archKey, canonicalVector, decodeArch, describeArch, encodeArch, largestArch, sampleArch, smallestArch, validateArch } from './archCodec.js';
import { createRng } from './rng.js';
import type { Arch, SearchSpace } from './SearchSpace.js';
import { cardinality, validateSpace } from './validateSpace.js';

function space(): SearchSpace {
  const r = validateSpace({
    name: 'codec',
    input: { kind: 'image', height: 8, width: 8, channels: 3 },
    numClasses: 4,
    stages: [
      { id: 'c1', depth: [1, 2], block: { type: 'conv', channels: [4, 8], kernel: [3, 5], ops: ['conv', 'identity'] } },
      { id: 's1', depth: [2], block: { type: 'dense', width: [64, 32] } },
      { id: 'moe', depth: [1], block: { type: 'moe', experts: 2, expertHidden: [128, 64], routing: { mode: 'topk', k: 1 } } },
    ],
  });
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.space;
}

describe('arch codec', () => {
  it('lays out one depth position per stage and op/size positions per block', () => {
    // c1: depth + 2 blocks × [op, channels, kernel]; s1: depth + 2 × [op, width]; moe: depth + [hidden]
    expect(archDims(space())).toEqual([2, 2, 2, 2, 2, 2, 2, 1, 1, 2, 1, 2, 1, 2]);
  });

  it('round-trips sampled archs, and every sample validates', () => {
    const s = space();
    const rng = createRng(7);
    const keys = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const arch = sampleArch(s, rng);
      expect(validateArch(s, arch)).toEqual([]);
      const v = encodeArch(s, arch);
      expect(v.length).toBe(archDims(s).length);
      expect(decodeArch(s, v)).toEqual(arch);
      expect(encodeArch(s, decodeArch(s, v))).toEqual(v);
      keys.add(archKey(arch));
    }
    // c1 has 5 choices per block: 5 + 25 = 30; s1 4 (2²); moe 2 → 240 archs; 200 draws see many of them.
    expect(cardinality(s)).toBe(240);
    expect(keys.size).toBeGreaterThan(80);
    expect(keys.size).toBeLessThanOrEqual(240);
  });

  it('decodes every vector of a small space to a distinct arch (cardinality by enumeration)', () => {
    const s = space();
    const dims = archDims(s);
    const keys = new Set<string>();
    const v = dims.map(() => 0);
    for (;;) {
      keys.add(archKey(decodeArch(s, v)));
      let i = 0;
      while (i < v.length && ++v[i]! === dims[i]) v[i++] = 0;
      if (i === v.length) break;
    }
    expect(keys.size).toBe(cardinality(s));
  });

  it('canonicalVector maps every encoding of a subnet to the one encodeArch writes', () => {
    const s = space();
    const dims = archDims(s);
    const seen = new Map<string, string>();
    // Every one of the 2¹¹ vectors of this space.
    const total = dims.reduce((a, d) => a * d, 1);
    for (let i = 0; i < total; i++) {
      let r = i;
      const v = dims.map((d) => {
        const g = r % d;
        r = Math.floor(r / d);
        return g;
      });
      const c = canonicalVector(s, v);
      expect(c).toEqual(encodeArch(s, decodeArch(s, v)));
      expect(canonicalVector(s, c)).toEqual(c);
      // one subnet ⇔ one canonical vector
      const key = archKey(decodeArch(s, v));
      const prev = seen.get(key);
      if (prev !== undefined) expect(c.join(',')).toBe(prev);
      seen.set(key, c.join(','));
    }
    expect(seen.size).toBe(240);
    // Hand case: c1 at depth 1 with an identity block: its channels/kernel and block 2 are free.
    const a = [0, 1, 1, 1, 0, 1, 1, /* s1 */ 0, 0, 1, 0, 0, /* moe */ 0, 1];
    const b = [0, 1, 0, 0, 1, 0, 0, /* s1 */ 0, 0, 1, 0, 0, /* moe */ 0, 1];
    expect(a).not.toEqual(b);
    expect(canonicalVector(s, a)).toEqual(canonicalVector(s, b));
    expect(canonicalVector(s, a)).toEqual([0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1]);
  });

  it('finds the largest and smallest subnets', () => {
    const s = space();
    expect(largestArch(s).stages[0]).toEqual({ depth: 2, blocks: [{ op: 'conv', channels: 8, kernel: 5 }, { op: 'conv', channels: 8, kernel: 5 }] });
    expect(smallestArch(s).stages[0]).toEqual({ depth: 1, blocks: [{ op: 'conv', channels: 4, kernel: 3 }] });
    expect(largestArch(s).stages[2]).toEqual({ depth: 1, blocks: [{ expertHidden: 128 }] });
  });

  it('rejects bad vectors and reports bad archs with paths', () => {
    const s = space();
    expect(() => decodeArch(s, [0])).toThrow(/positions/);
    const bad = archDims(s).map(() => 0);
    bad[1] = 2;
    expect(() => decodeArch(s, bad)).toThrow(/position 1/);
    const arch: Arch = structuredClone(largestArch(s));
    arch.stages[1]!.blocks[1]!.width = 48;
    arch.stages[0]!.blocks[0] = { op: 'identity', width: 3 };
    arch.stages[2]!.depth = 2;
    expect(validateArch(s, arch).map((i) => i.path)).toEqual([
      'stages[0].blocks[0].width',
      'stages[1].blocks[1].width',
      'stages[2].depth',
      'stages[2].blocks',
    ]);
    expect(validateArch(s, { stages: [] })[0]!.path).toBe('stages');
  });

  it('keys and describes archs', () => {
    const s = space();
    const a = largestArch(s);
    expect(archKey(a)).toBe(archKey(structuredClone(a)));
    expect(archKey(a)).not.toBe(archKey(smallestArch(s)));
    const arch = decodeArch(s, [1, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1]);
    expect(describeArch(s, arch)).toBe('c1: d2 c[id,8] k3 | s1: w[32,64] | moe: h64');
  });
});

describe('archPositions', () => {
  it('names every vector position with its choices, in archDims order', async () => {
    const { archPositions, archDims } = await import('./archCodec.js');
    const { SearchSpace } = await import('./SearchSpace.js');
    const space = SearchSpace.parse({
      name: 'p',
      input: { kind: 'vector', dim: 4 },
      numClasses: 2,
      stages: [
        { id: 'stem', depth: [1, 2], block: { type: 'dense', width: [8, 16], ops: ['dense', 'identity'] } },
        { id: 'moe', depth: [1], block: { type: 'moe', experts: 2, expertHidden: [4, 8, 12] } },
      ],
    });
    const pos = archPositions(space);
    expect(pos.map((p) => p.label)).toEqual(['stem.depth', 'stem.b0.op', 'stem.b0.width', 'stem.b1.op', 'stem.b1.width', 'moe.depth', 'moe.b0.hidden']);
    expect(pos.map((p) => p.choices.length)).toEqual(archDims(space));
    expect(pos[2]!.choices).toEqual(['8', '16']);
    const { activePositions, encodeArch } = await import('./archCodec.js');
    // depth 1: the second stem block is not trained; depth 2 with b1 identity: b1 has no width.
    const shallow = encodeArch(space, { stages: [{ depth: 1, blocks: [{ op: 'dense', width: 16 }] }, { depth: 1, blocks: [{ expertHidden: 8 }] }] });
    expect(activePositions(space, shallow)).toEqual([true, true, true, false, false, true, true]);
    const deep = encodeArch(space, { stages: [{ depth: 2, blocks: [{ op: 'dense', width: 8 }, { op: 'identity' }] }, { depth: 1, blocks: [{ expertHidden: 4 }] }] });
    expect(activePositions(space, deep)).toEqual([true, true, true, true, false, true, true]);
  });
});
