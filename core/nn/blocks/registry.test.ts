/**
 * The ElasticBlock registry: one elastic block per descriptor; every block's inference forward equals its
 * lowered graph ops evaluated independently, and its params equal what the lowering holds; the supernet
 * runs blocks only through the registry (swapping a registered block changes its output); dense and MoE
 * blocks act on every token of a sequence; recalibration goes through the block's own hook.
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BLOCK_TYPES } from '../../space/blocks/registry.js';
import { createRng } from '../../space/rng.js';
import { Block as BlockSchema, type Block, type BlockChoice, type SearchSpace, type SearchSpaceInput } from '../../space/SearchSpace.js';
import { validateSpace } from '../../space/validateSpace.js';
import { countGraphParams, runSubnetGraph } from '../graph/evaluate.js';
import { newForwardContext } from '../forwardContext.js';
import { VariableStore } from '../init.js';
import { buildSupernet, recalibrateBatchNorm } from '../Supernet.js';
import type { ActivationShape, BlockInstance } from './block.js';
import { elasticBlockOf, elasticBlocks } from './registry.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});
const stores: VariableStore[] = [];
afterAll(() => stores.forEach((s) => s.dispose()));

function space(input: SearchSpaceInput): SearchSpace {
  const r = validateSpace(input);
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.space;
}
const randn = (shape: number[], seed: number) => {
  const rng = createRng(seed);
  return tf.tensor(Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.normal()), shape);
};
const maxDiff = (a: tf.Tensor, b: tf.Tensor) => tf.max(tf.abs(tf.sub(a, b))).arraySync() as number;

function instance(block: Block, inMax: number): BlockInstance {
  const store = new VariableStore();
  stores.push(store);
  const b = elasticBlockOf(block).create({ name: 's.b0', block, inMax, store, rng: createRng(3) });
  // Non-trivial running statistics (a fresh BatchNorm's are 0 and 1), so inference reads them visibly.
  for (const [name, v] of store.named()) if (name.endsWith('.mean') || name.endsWith('.variance')) v.assign(tf.abs(randn(v.shape, 10)));
  return b;
}

/** Evaluate a block's lowered ops alone: a graph of those ops, read back as the output. */
function runLowered(b: BlockInstance, choice: BlockChoice, input: ActivationShape, x: tf.Tensor): tf.Tensor {
  return runSubnetGraph({ input: { kind: 'vector', dim: input.width }, numClasses: 1, ops: b.lower(choice, input) }, x);
}

const vec = (width: number): ActivationShape => ({ layout: 'vector', width, spatial: [1, 1], length: 1 });

describe('elastic block registry', () => {
  it('has one elastic block per block descriptor, each of its own type', () => {
    expect(Object.keys(elasticBlocks).sort()).toEqual([...BLOCK_TYPES].sort());
    for (const t of BLOCK_TYPES) expect(elasticBlocks[t].type).toBe(t);
  });

  const cases: { name: string; block: SearchSpaceInput['stages'][number]['block']; inMax: number; choice: BlockChoice; input: ActivationShape; x: number[] }[] = [
    { name: 'dense (residual, sliced input)', block: { type: 'dense', width: [4, 6], residual: true, activation: 'tanh' }, inMax: 6, choice: { op: 'dense', width: 4 }, input: vec(4), x: [5, 4] },
    { name: 'conv (centre kernel, BatchNorm, stride 2)', block: { type: 'conv', channels: [3, 5], kernel: [1, 3], stride: 2 }, inMax: 2, choice: { op: 'conv', channels: 3, kernel: 1 }, input: { layout: 'image', width: 2, spatial: [5, 5], length: 1 }, x: [2, 5, 5, 2] },
    { name: 'moe (top-2, shared and null experts)', block: { type: 'moe', experts: 3, expertHidden: [4, 8], sharedExperts: 1, nullExperts: 1, routing: { mode: 'topk', k: 2 } }, inMax: 6, choice: { expertHidden: 4 }, input: vec(5), x: [7, 5] },
  ];
  for (const c of cases) {
    it(`${c.name}: inference apply equals its evaluated lowering; params equal the lowering's`, () => {
      const b = instance(BlockSchema.parse(c.block), c.inMax);
      const x = randn(c.x, 4);
      const y = b.apply(x, c.choice, newForwardContext());
      expect(maxDiff(y, runLowered(b, c.choice, c.input, x))).toBeLessThan(1e-5);
      const held = countGraphParams({ input: { kind: 'vector', dim: 1 }, numClasses: 1, ops: b.lower(c.choice, c.input) });
      expect(b.countParams(c.choice, c.input)).toBe(held);
      expect(y.shape.slice(1).at(-1)).toBe(b.outShape(c.choice, c.input).width);
    });
  }

  it('the supernet runs each block through the registry: a swapped-in block changes the output', () => {
    const s = space({ name: 't', input: { kind: 'vector', dim: 3 }, numClasses: 2, stages: [{ id: 's', depth: [1], block: { type: 'dense', width: [4] } }] });
    const arch = { stages: [{ depth: 1, blocks: [{ op: 'dense', width: 4 }] }] };
    const x = randn([3, 3], 5);
    const base = buildSupernet(s, { seed: 1 });
    const original = elasticBlocks.dense;
    elasticBlocks.dense = {
      type: 'dense',
      create(build) {
        const inner = original.create(build);
        // The same block, output negated: only a supernet that calls the registry sees it.
        return Object.assign(Object.create(inner) as BlockInstance, { apply: (h: tf.Tensor, c: BlockChoice, ctx: ReturnType<typeof newForwardContext>) => tf.neg(inner.apply(h, c, ctx)) });
      },
    };
    try {
      const swapped = buildSupernet(s, { seed: 1 });
      const a = base.apply(x, arch, { training: false }).logits;
      const b = swapped.apply(x, arch, { training: false }).logits;
      expect(maxDiff(a, b)).toBeGreaterThan(1e-3);
      swapped.dispose();
    } finally {
      elasticBlocks.dense = original;
      base.dispose();
    }
  });

  it('dense and MoE blocks act on every token of a sequence [B, T, d] as on the rows [B·T, d]', () => {
    for (const block of [
      { type: 'dense', width: [6], activation: 'gelu' },
      { type: 'moe', experts: 4, expertHidden: [8], routing: { mode: 'topk', k: 1 } },
    ] as const) {
      const s = space({ name: 't', input: { kind: 'vector', dim: 6 }, numClasses: 2, stages: [{ id: 's', depth: [1], block: block as never }] });
      const b = instance(s.stages[0]!.block, 6);
      const choice: BlockChoice = block.type === 'dense' ? { op: 'dense', width: 6 } : { expertHidden: 8 };
      const x = randn([2, 5, 6], 6);
      const seq = b.apply(x, choice, newForwardContext());
      const rows = b.apply(tf.reshape(x, [10, 6]), choice, newForwardContext());
      expect(seq.shape).toEqual([2, 5, 6]);
      expect(maxDiff(tf.reshape(seq, [10, 6]), rows)).toBeLessThan(1e-6);
      const seqShape: ActivationShape = { layout: 'sequence', width: 6, spatial: [1, 1], length: 5 };
      expect(b.countFlops(choice, seqShape)).toBe(5 * b.countFlops(choice, vec(6)));
    }
  });

  it('an MoE block reports and adds its weighted losses to the per-forward context', () => {
    const s = space({ name: 't', input: { kind: 'vector', dim: 4 }, numClasses: 2, stages: [{ id: 's', depth: [1], block: { type: 'moe', experts: 4, expertHidden: [8], auxLossWeight: 0.5 } }] });
    const b = instance(s.stages[0]!.block, 4);
    const ctx = newForwardContext({ training: true });
    b.apply(randn([6, 4], 7), { expertHidden: 8 }, ctx);
    expect(ctx.reports.map((r) => r.layer)).toEqual(['s.b0']);
    expect(ctx.losses.map((l) => [l.name, l.weight])).toEqual([['balance', 0.5]]);
  });

  it('recalibration sets a conv block’s running statistics to the mean of its batch statistics', () => {
    const s = space({ name: 't', input: { kind: 'image', height: 4, width: 4, channels: 1 }, numClasses: 2, stages: [{ id: 's', depth: [1], block: { type: 'conv', channels: [2], kernel: [1] } }] });
    const net = buildSupernet(s, { seed: 2 });
    const arch = { stages: [{ depth: 1, blocks: [{ op: 'conv', channels: 2, kernel: 1 }] }] };
    const batches = [randn([3, 4, 4, 1], 8), randn([3, 4, 4, 1], 9)];
    recalibrateBatchNorm(net, arch, batches);
    // Independent computation: the 1×1 conv's pre-BN output per batch, its channel means, their mean.
    const k = net.namedVariables().get('s.b0.conv.kernel')!.reshape([1, 2]);
    const means = batches.map((b) => tf.mean(tf.matMul(tf.reshape(b, [-1, 1]), k), 0));
    expect(maxDiff(net.namedVariables().get('s.b0.bn.mean')!, tf.mean(tf.stack(means), 0))).toBeLessThan(1e-6);
    net.dispose();
  });
});
