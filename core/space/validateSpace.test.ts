import { describe, expect, it } from 'vitest';
import type { SearchSpaceInput } from './SearchSpace.js';
import { cardinality, validateSpace } from './validateSpace.js';

const base = (): SearchSpaceInput => ({
  name: 't',
  input: { kind: 'vector', dim: 8 },
  numClasses: 3,
  stages: [
    { id: 's1', depth: [1, 2], block: { type: 'dense', width: [16, 32] } },
    { id: 'moe', depth: [1], block: { type: 'moe', experts: 4, expertHidden: [32, 64], routing: { mode: 'topk', k: 2 } } },
  ],
});

function pathsOf(input: unknown): string[] {
  const r = validateSpace(input);
  return r.ok ? [] : r.issues.map((i) => i.path);
}

describe('validateSpace', () => {
  it('accepts a good space and fills defaults', () => {
    const r = validateSpace(base());
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const moe = r.space.stages[1]!.block;
    expect(moe.type === 'moe' && moe.auxLossWeight).toBe(0.01);
    expect(r.space.version).toBe(1);
  });

  it('reports schema errors with paths', () => {
    const s = base() as any;
    s.stages[1].block.routing.k = 0;
    s.stages[0].block.width = [];
    expect(pathsOf(s)).toEqual(expect.arrayContaining(['stages[1].block.routing.k', 'stages[0].block.width']));
    expect(pathsOf({ ...base(), stages: [] })).toEqual(['stages']);
    expect(pathsOf({ ...base(), extra: 1 })).toEqual(['(root)']);
  });

  it('rejects top-k larger than the routable slots, counting segments and special experts', () => {
    const s = base() as any;
    s.stages[1].block.routing.k = 5;
    expect(pathsOf(s)).toEqual(['stages[1].block.routing.k']);
    s.stages[1].block.nullExperts = 1; // 4 + 1 = 5 slots, k = 5 fits
    expect(pathsOf(s)).toEqual([]);
    s.stages[1].block.segments = 2; // 8 + 1 = 9 slots, k·m = 10
    expect(pathsOf(s)).toEqual(['stages[1].block.routing.k']);
    s.stages[1].block.routing.k = 4; // 8 ≤ 9
    expect(pathsOf(s)).toEqual([]);
  });

  it('needs expert hidden widths divisible by segments', () => {
    const s = base() as any;
    s.stages[1].block.segments = 3;
    s.stages[1].block.expertHidden = [48, 64];
    expect(pathsOf(s)).toEqual(['stages[1].block.expertHidden[1]']);
  });

  it('checks smoe-dropout kEnd ≥ kStart, top-p maxK, and expert-choice capacity', () => {
    const s = base() as any;
    s.stages[1].block.routing = { mode: 'smoe-dropout', kStart: 3, kEnd: 2 };
    expect(pathsOf(s)).toEqual(['stages[1].block.routing.kEnd']);
    s.stages[1].block.routing = { mode: 'topp', p: 0.5, maxK: 9 };
    expect(pathsOf(s)).toEqual(['stages[1].block.routing.maxK']);
    s.stages[1].block.routing = { mode: 'expert-choice' };
    s.stages[1].block.capacityFactor = 1.5;
    expect(pathsOf(s)).toEqual(['stages[1].block.capacityFactor']);
  });

  it('rejects duplicate stage ids at the second use', () => {
    const s = base() as any;
    s.stages[1].id = 's1';
    const r = validateSpace(s);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.issues).toEqual([{ path: 'stages[1].id', message: expect.stringContaining('stages[0]') }]);
  });

  it('allows conv stages only while the tensor is an image', () => {
    const conv = { type: 'conv', channels: [8], kernel: [3] };
    expect(pathsOf({ ...base(), stages: [{ id: 'c', depth: [1], block: conv }] })).toEqual(['stages[0].block.type']);
    const img = { ...base(), input: { kind: 'image', height: 8, width: 8, channels: 1 } };
    expect(pathsOf({ ...img, stages: [{ id: 'c', depth: [1], block: conv }, ...base().stages] })).toEqual([]);
    expect(pathsOf({ ...img, stages: [...base().stages, { id: 'c', depth: [1], block: conv }] })).toEqual(['stages[2].block.type']);
  });

  it('allows identity only where the input width can equal an output width', () => {
    const s = base() as any;
    s.stages[0].block.ops = ['dense', 'identity'];
    expect(pathsOf(s)).toEqual([]); // block 1 reads block 0's 16/32 units: it can be skipped
    s.stages[0].depth = [1]; // only block 0, whose input is 8 wide against widths 16/32: no skip fits
    expect(pathsOf(s)).toEqual(['stages[0].block.ops']);
    s.stages[0].depth = [2];
    s.stages[0].block.ops = ['identity'];
    expect(pathsOf(s)).toEqual(['stages[0].block.ops']);
    s.stages.splice(1, 0, { id: 's2', depth: [1, 2], block: { type: 'dense', width: [32, 64], ops: ['dense', 'identity'] } });
    s.stages[0].block.ops = ['dense'];
    expect(pathsOf(s)).toEqual([]); // s2's input may be 32 wide
    const img = {
      ...base(),
      input: { kind: 'image', height: 8, width: 8, channels: 4 },
      stages: [{ id: 'c', depth: [1], block: { type: 'conv', channels: [4, 8], kernel: [3], stride: 2, ops: ['conv', 'identity'] } }],
    };
    expect(pathsOf(img)).toEqual(['stages[0].block.ops']); // stride 2 cannot be skipped
  });

  it('refuses supernets too large to train', () => {
    const s = base() as any;
    s.stages[0].block.width = [8192];
    s.stages[0].block.depth = [32];
    s.stages[0].depth = [32];
    delete s.stages[0].block.depth;
    expect(pathsOf(s)).toEqual(['stages']);
  });
});

describe('cardinality', () => {
  it('matches a hand count', () => {
    const r = validateSpace({
      name: 'c',
      input: { kind: 'vector', dim: 4 },
      numClasses: 2,
      stages: [
        // widths {4, 8} + identity = 3 choices per block; depth 1 or 2: 3 + 9 = 12
        { id: 'a', depth: [1, 2], block: { type: 'dense', width: [4, 8], ops: ['dense', 'identity'] } },
        // 2 hidden choices, depth 1: 2
        { id: 'm', depth: [1], block: { type: 'moe', experts: 2, expertHidden: [8, 16], routing: { mode: 'topk', k: 1 } } },
      ],
    });
    expect(r.ok).toBe(true);
    if (r.ok) expect(cardinality(r.space)).toBe(24);
    const conv = validateSpace({
      name: 'c',
      input: { kind: 'image', height: 4, width: 4, channels: 1 },
      numClasses: 2,
      // 2 channels × 2 kernels = 4 per block; depth [2, 3]: 16 + 64 = 80
      stages: [{ id: 'c', depth: [2, 3], block: { type: 'conv', channels: [4, 8], kernel: [1, 3] } }],
    });
    expect(conv.ok).toBe(true);
    if (conv.ok) expect(cardinality(conv.space)).toBe(80);
  });
});
