import { BLOCK_TYPES } from './SearchSpace.js';
import { describe, expect, it } from 'vitest';
import { largestArch, smallestArch } from './archCodec.js';
import { listExampleSpaces } from './exampleSpaces.js';
import { spaceGraph } from './spaceGraph.js';
import { supernetParams, validateSpace } from './validateSpace.js';

const examples = listExampleSpaces().map((e) => {
  const r = validateSpace(e.space);
  if (!r.ok) throw new Error(`${e.id}: ${r.issues[0]!.message}`);
  return { id: e.id, space: r.space };
});

describe('spaceGraph', () => {
  it.each(examples)('$id: its nodes allocate exactly the supernet parameters', ({ space }) => {
    const g = spaceGraph(space);
    expect(g.reduce((n, x) => n + x.params, 0)).toBe(supernetParams(space));
    expect(g[0]!.kind).toBe('input');
    expect(g.at(-1)!.kind).toBe('head');
    expect(g.filter((n) => (BLOCK_TYPES as string[]).includes(n.kind)).map((n) => n.id)).toEqual(space.stages.map((s) => s.id));
  });

  it('shows shapes, choices as ranges, the picks and fewer FLOPs for the smallest subnet', () => {
    const { space } = examples.find((e) => e.id === 'fashion-conv-supernet')!;
    const big = spaceGraph(space, largestArch(space));
    const small = spaceGraph(space, smallestArch(space));
    expect(big[0]!.shape).toBe('image 28×28×1');
    expect(big.some((n) => n.kind === 'reshape' && n.title === 'global average pool')).toBe(true);
    const conv = big.find((n) => n.kind === 'conv')!;
    expect(conv.choices[0]).toMatch(/^depth \d(–\d)?$/);
    expect(conv.shape).toMatch(/→/);
    expect(small.reduce((n, x) => n + x.flops, 0)).toBeLessThan(big.reduce((n, x) => n + x.flops, 0));
    expect(small.find((n) => n.kind === 'conv')!.picked).toMatch(/^depth \d: /);
  });
});
