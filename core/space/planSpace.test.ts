import { describe, expect, it } from 'vitest';
import { planSpace } from './planSpace.js';
import type { SearchSpaceInput } from './SearchSpace.js';
import { validateSpace } from './validateSpace.js';

const plan = (input: SearchSpaceInput) => {
  const r = validateSpace(input);
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return planSpace(r.space);
};

describe('planSpace', () => {
  it('tracks the widths identity blocks let through and MoE blocks keep', () => {
    const p = plan({
      name: 'p',
      input: { kind: 'vector', dim: 10 },
      numClasses: 2,
      stages: [
        { id: 'a', depth: [1], block: { type: 'dense', width: [16, 32] } },
        { id: 'b', depth: [1, 2], block: { type: 'dense', width: [8, 16], ops: ['dense', 'identity'] } },
        { id: 'm', depth: [1], block: { type: 'moe', experts: 2, expertHidden: [8], routing: { mode: 'topk', k: 1 } } },
      ],
    });
    expect(p.stages.map((s) => [s.inWidths, s.outWidths])).toEqual([
      [[10], [16, 32]],
      [[16, 32], [8, 16, 32]],
      [[8, 16, 32], [8, 16, 32]],
    ]);
    expect(p.headInMax).toBe(32);
    expect(p.hasConv).toBe(false);
  });

  it('pools images after conv stages and flattens them when there are none', () => {
    const img = { kind: 'image', height: 4, width: 5, channels: 3 } as const;
    const conv = plan({
      name: 'c',
      input: img,
      numClasses: 2,
      stages: [
        { id: 'c', depth: [1], block: { type: 'conv', channels: [6, 12], kernel: [3] } },
        { id: 'd', depth: [1], block: { type: 'dense', width: [7] } },
      ],
    });
    expect(conv.stages[1]).toMatchObject({ reshapeBefore: 'gap', inWidths: [6, 12] });
    const flat = plan({ name: 'f', input: img, numClasses: 2, stages: [{ id: 'd', depth: [1], block: { type: 'dense', width: [7] } }] });
    expect(flat.stages[0]).toMatchObject({ reshapeBefore: 'flatten', inWidths: [60] });
    const onlyConv = plan({ name: 'o', input: img, numClasses: 2, stages: [{ id: 'c', depth: [1], block: { type: 'conv', channels: [6], kernel: [3] } }] });
    expect(onlyConv.headWidths).toEqual([6]);
  });
});
