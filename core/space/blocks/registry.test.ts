/**
 * Block descriptors on the space floor: the Block schema is their union; planSpace and the arch codec read
 * each type's layouts, choice dimensions and output widths from the registry (swapping a descriptor changes
 * what they produce, so none of them keeps its own list of block types).
 */
import { describe, expect, it } from 'vitest';
import { archDims, archPositions, decodeArch, describeArch, encodeArch, largestArch, sampleArch, validateArch } from '../archCodec.js';
import { planSpace } from '../planSpace.js';
import { cardinality, supernetParams, validateSpace } from '../validateSpace.js';
import { hasBatchNorm } from '../../train/batchNorm.js';
import { estimateActivationMemory } from '../activationMemory.js';
import { spaceGraph } from '../spaceGraph.js';
import { createRng } from '../rng.js';
import { SearchSpace } from '../SearchSpace.js';
import { Block, BLOCK_TYPES, blockDescriptors } from './registry.js';

const space = SearchSpace.parse({
  name: 't',
  input: { kind: 'image', height: 4, width: 4, channels: 1 },
  numClasses: 2,
  stages: [
    { id: 'c', depth: [1], block: { type: 'conv', channels: [2, 3], kernel: [1, 3] } },
    { id: 'd', depth: [1, 2], block: { type: 'dense', width: [4, 5], ops: ['dense', 'identity'] } },
    { id: 'm', depth: [1], block: { type: 'moe', experts: 2, expertHidden: [8, 16] } },
  ],
});

describe('block descriptors', () => {
  it('the Block schema accepts exactly the registered types', () => {
    expect(Object.keys(blockDescriptors).sort()).toEqual([...BLOCK_TYPES].sort());
    for (const t of BLOCK_TYPES) expect(blockDescriptors[t].type).toBe(t);
    expect(Block.safeParse({ type: 'nonesuch' }).success).toBe(false);
  });

  it('the codec lays out each block by its descriptor: op, then its dimensions', () => {
    expect(archDims(space)).toEqual([1, 1, 2, 2, 2, 2, 2, 2, 2, 1, 2]);
    expect(archPositions(space).map((p) => p.label)).toEqual(['c.depth', 'c.b0.op', 'c.b0.channels', 'c.b0.kernel', 'd.depth', 'd.b0.op', 'd.b0.width', 'd.b1.op', 'd.b1.width', 'm.depth', 'm.b0.hidden']);
    const big = largestArch(space);
    expect(big.stages.map((s) => s.blocks)).toEqual([[{ op: 'conv', channels: 3, kernel: 3 }], [{ op: 'dense', width: 5 }, { op: 'dense', width: 5 }], [{ expertHidden: 16 }]]);
    expect(describeArch(space, big)).toBe('c: c3 k3 | d: d2 w5 | m: h16');
    expect(decodeArch(space, encodeArch(space, big))).toEqual(big);
  });

  it('planSpace, the codec and validation follow a swapped descriptor (no list of types of their own)', () => {
    const original = blockDescriptors.dense;
    // The dense descriptor with one more width choice than the schema lists and a renamed position.
    blockDescriptors.dense = { ...original, dims: (b) => [{ key: 'width', values: [...b.width, 7], label: 'units', short: 'u' }], outWidths: (b, inW) => new Set([...original.outWidths(b, inW), 7]) };
    try {
      expect(archPositions(space).map((p) => p.label)).toContain('d.b0.units');
      expect(planSpace(space).stages[1]!.outWidths).toContain(7);
      const rng = createRng(3);
      const widths = new Set(Array.from({ length: 60 }, () => sampleArch(space, rng).stages[1]!.blocks.map((c) => c.width)).flat());
      expect(widths.has(7)).toBe(true);
      const arch = { stages: [{ depth: 1, blocks: [{ op: 'conv', channels: 2, kernel: 1 }] }, { depth: 1, blocks: [{ op: 'dense', width: 7 }] }, { depth: 1, blocks: [{ expertHidden: 8 }] }] };
      expect(validateArch(space, arch)).toEqual([]);
      expect(describeArch(space, arch)).toBe('c: c2 k1 | d: d1 u7 | m: h8');
    } finally {
      blockDescriptors.dense = original;
    }
  });

  it('validation, the supernet size and the cardinality read the descriptors', () => {
    const before = { params: supernetParams(space), card: cardinality(space) };
    // conv 2·2 choices; dense (4 + identity)^1 + 3^2; moe 2.
    expect(before.card).toBe(4 * (3 + 9) * 2);
    const original = blockDescriptors.dense;
    blockDescriptors.dense = { ...original, validate: () => [{ field: 'width', message: 'custom' }], maxParams: () => 1000, dims: (b) => [{ key: 'width', values: [...b.width, 9] }] };
    try {
      const r = validateSpace(space);
      expect(r.ok).toBe(false);
      expect(r.issues).toEqual([{ path: 'stages[1].block.width', message: 'custom' }]);
      expect(supernetParams(space)).toBe(before.params - 2 * original.maxParams(space.stages[1]!.block as never, 5) + 2 * 1000);
      expect(cardinality(space)).toBe(4 * (4 + 16) * 2);
    } finally {
      blockDescriptors.dense = original;
    }
    expect(validateSpace(space).ok).toBe(true);
  });

  it('whether a space needs BatchNorm recalibration comes from the descriptors (runningStatistics)', () => {
    expect(hasBatchNorm(space)).toBe(true);
    const noBn = SearchSpace.parse({ ...space, stages: [{ ...space.stages[0]!, block: { ...space.stages[0]!.block, batchNorm: false } }, ...space.stages.slice(1)] });
    expect(hasBatchNorm(noBn)).toBe(false);
    const original = blockDescriptors.dense;
    blockDescriptors.dense = { ...original, runningStatistics: () => true };
    try {
      expect(hasBatchNorm(noBn)).toBe(true);
    } finally {
      blockDescriptors.dense = original;
    }
  });

  it('the space graph and the activation estimate read each block’s FLOPs, texts and terms from its descriptor', () => {
    const node = () => spaceGraph(space).find((n) => n.id === 'd')!;
    const before = { node: node(), est: estimateActivationMemory(space, 8) };
    expect(before.node.choices).toEqual(['depth 1–2', 'width 4, 5', 'ops dense, identity']);
    // Largest subnet: two dense blocks of width 5 after the conv's 3 channels: 2·3·5 + 2·5·5.
    expect(before.node.flops).toBe(2 * 3 * 5 + 2 * 5 * 5);
    const original = blockDescriptors.dense;
    blockDescriptors.dense = {
      ...original,
      nominalFlops: () => 1,
      choiceText: () => ['custom'],
      pickText: () => 'p',
      activationTerms: (_b, _c, _i, ctx) => [{ path: `${ctx.at}.width`, what: 'custom', elements: 1000 }],
    };
    try {
      const n = node();
      expect([n.flops, n.choices, n.picked]).toEqual([2, ['depth 1–2', 'custom'], 'depth 2: p, p']);
      const est = estimateActivationMemory(space, 8);
      expect(est.terms.filter((t) => t.what === 'custom').map((t) => t.elements)).toEqual([1000, 1000]);
    } finally {
      blockDescriptors.dense = original;
    }
  });
});
