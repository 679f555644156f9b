/** OFA channel sorting: groups, importance (L1 of the reading weights) computed independently, function preserved. */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { largestArch, sampleArch } from '../space/archCodec.js';
import { listExampleSpaces } from '../space/exampleSpaces.js';
import { createRng } from '../space/rng.js';
import { inputSampleShape, SearchSpace, type Arch } from '../space/SearchSpace.js';
import { channelGroups, channelSortPermutations, permuteVariables } from './channelSorting.js';
import { buildSupernet } from './Supernet.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const example = (id: string) => SearchSpace.parse(listExampleSpaces().find((e) => e.id === id)!.space);

/** Every arch with the largest widths, channels and kernels (sorting must not change what they compute). */
function widestArches(space: SearchSpace, n: number): Arch[] {
  const rng = createRng(4);
  const top = largestArch(space);
  return [top, ...Array.from({ length: n }, () => sampleArch(space, rng))].map((a) => ({
    stages: a.stages.map((s, i) => ({ depth: s.depth, blocks: s.blocks.map((b) => (b.op === 'identity' ? b : top.stages[i]!.blocks[0]!)) })),
  }));
}

function shuffleWeights(net: ReturnType<typeof buildSupernet>, seed: number) {
  const rng = createRng(seed);
  for (const v of net.namedVariables().values()) tf.tidy(() => v.assign(tf.tensor(Array.from({ length: v.size }, () => rng.normal() * 0.5), v.shape)));
}

describe('channel sorting', () => {
  it('groups the streams an identity op, a shallower depth or a residual put in front of the same reader', () => {
    const space = example('fashion-mlp-supernet');
    const net = buildSupernet(space, { seed: 1 });
    const groups = channelGroups(space, net.namedVariables()).map((g) => ({ producers: [...g.producers].sort(), consumers: [...g.consumers].sort() }));
    expect(groups).toContainEqual({ producers: ['s1.b0', 's2.b0', 's2.b1', 's2.b2'], consumers: ['s2.b0', 's2.b1', 's2.b2', 's3.b0'] });
    expect(groups).toContainEqual({ producers: ['s3.b0', 's3.b1'], consumers: ['head', 's3.b1'] });
    expect(groups).toHaveLength(2);
    net.dispose();
  });

  it('orders channels by the L1 norm of the weights reading them (computed independently); a narrow subnet keeps the most important', () => {
    const space = SearchSpace.parse({
      version: 1, name: 'sort', input: { kind: 'vector', dim: 3 }, numClasses: 2,
      stages: [
        { id: 'a', depth: [1], block: { type: 'dense', width: [3, 6], activation: 'relu' } },
        { id: 'b', depth: [1], block: { type: 'dense', width: [2, 5], activation: 'relu' } },
      ],
    });
    const net = buildSupernet(space, { seed: 2 });
    shuffleWeights(net, 9);
    const vars = net.namedVariables();
    const read = (n: string) => vars.get(n)!.arraySync() as number[][];
    const k1 = read('a.b0.dense.kernel');
    const k2 = read('b.b0.dense.kernel');
    const head = read('head.kernel');
    // Independent: importance of a's unit c = Σ_j |k2[c][j]|; of b's unit c = Σ_j |head[c][j]|.
    const l1Rows = (m: number[][]) => m.map((r) => r.reduce((s, x) => s + Math.abs(x), 0));
    const order = (imp: number[]) => imp.map((_, i) => i).sort((x, y) => imp[y]! - imp[x]!);
    const permA = order(l1Rows(k2));
    const permB = order(l1Rows(head));
    const x = tf.tensor2d([[0.3, -1, 2], [1, 0.5, -0.2]]);
    const before = net.apply(x, largestArch(space), { training: false }).logits.arraySync();

    permuteVariables(vars, channelSortPermutations(space, vars));
    const k1s = read('a.b0.dense.kernel');
    const k2s = read('b.b0.dense.kernel');
    for (let r = 0; r < 3; r++) for (let c = 0; c < 6; c++) expect(k1s[r]![c]).toBe(k1[r]![permA[c]!]!);
    for (let r = 0; r < 6; r++) for (let c = 0; c < 5; c++) expect(k2s[r]![c]).toBe(k2[permA[r]!]![permB[c]!]!);
    // The width-3 subnet of stage a now uses the three most important units.
    expect(new Set(permA.slice(0, 3))).toEqual(new Set(order(l1Rows(k2)).slice(0, 3)));
    const imp = l1Rows(k2s);
    for (let c = 1; c < imp.length; c++) expect(imp[c]!).toBeLessThanOrEqual(imp[c - 1]!);
    // A relabelling of hidden units: the largest subnet computes the same function.
    const after = net.apply(x, largestArch(space), { training: false }).logits.arraySync();
    before.forEach((row, i) => row.forEach((v, j) => expect(after[i]![j]).toBeCloseTo(v, 5)));
    net.dispose();
  });

  for (const id of ['fashion-mlp-supernet', 'fashion-conv-supernet']) {
    it(`${id}: every widest subnet (any depth, any identity op) computes the same after sorting`, () => {
      const space = example(id);
      const net = buildSupernet(space, { seed: 3 });
      shuffleWeights(net, 5);
      for (const v of net.namedVariables().values()) if (v.name.includes('variance')) tf.tidy(() => v.assign(tf.abs(v)));
      const input = space.input;
      const shape = [2, ...inputSampleShape(input)];
      const x = tf.randomNormal(shape, 0, 1, 'float32', 7);
      const arches = widestArches(space, 6);
      const before = arches.map((a) => net.apply(x, a, { training: false }).logits.arraySync());
      const perms = channelSortPermutations(space, net.namedVariables());
      expect(perms.length).toBeGreaterThan(0);
      permuteVariables(net.namedVariables(), perms);
      arches.forEach((a, k) => {
        const after = net.apply(x, a, { training: false }).logits.arraySync();
        // Float32 sums in another order: relative tolerance.
        before[k]!.forEach((row, i) => row.forEach((v, j) => expect(Math.abs(after[i]![j]! - v)).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(v)))));
      });
      net.dispose();
    });
  }
});
