import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { archPositions, encodeArch } from '../space/archCodec.js';
import type { Arch, SearchSpace } from '../space/SearchSpace.js';
import { validateSpace } from '../space/validateSpace.js';
import { FewShotSupernet, leafOf } from './FewShotSupernet.js';
import { subnetGraph } from './Supernet.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

function denseSpace(): SearchSpace {
  const r = validateSpace({
    name: 'fs',
    input: { kind: 'vector', dim: 3 },
    numClasses: 2,
    stages: [
      { id: 's1', depth: [1], block: { type: 'dense', width: [4, 6, 8] } },
      { id: 's2', depth: [1], block: { type: 'dense', width: [2, 4] } },
    ],
  });
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.space;
}
const arch = (w1: number, w2: number): Arch => ({ stages: [{ depth: 1, blocks: [{ op: 'dense', width: w1 }] }, { depth: 1, blocks: [{ op: 'dense', width: w2 }] }] });
const values = (net: FewShotSupernet, k: number) => [...net.copies[k]!.namedVariables().values()].map((v) => Array.from(v.dataSync()));

describe('FewShotSupernet', () => {
  it('routes a subnet to the copy of the group its choice is in, and that copy alone gets its gradient', () => {
    const s = denseSpace();
    const net = new FewShotSupernet(s, { seed: 3, leaves: 2 });
    const pos = archPositions(s).findIndex((p) => p.label === 's1.b0.width');
    // Before any split every subnet uses copy 0.
    expect(net.leafFor(arch(8, 4))).toBe(0);
    const x = tf.randomNormal([5, 3], 0, 1, 'float32', 1);
    const y = tf.tensor1d([0, 1, 0, 1, 1], 'int32');
    // Train copy 0 a little, so the copies differ from a fresh build before the split.
    tf.tidy(() => {
      const { grads } = tf.variableGrads(() => tf.losses.softmaxCrossEntropy(tf.oneHot(y, 2), net.apply(x, arch(8, 4), { training: true }).logits) as tf.Scalar, net.trainableVariables());
      for (const v of net.trainableVariables()) if (grads[v.name]) v.assign(tf.sub(v, tf.mul(grads[v.name]!, 0.5)));
    });
    const warm = values(net, 0);
    const fresh = values(new FewShotSupernet(s, { seed: 3, leaves: 1 }), 0);
    expect(warm).not.toEqual(fresh);

    const newLeaf = net.split(0, pos, [[0], [1, 2]]);
    expect(newLeaf).toBe(1);
    // The new copy starts from the warmed-up weights, not from its initialisation.
    expect(values(net, 1)).toEqual(warm);
    expect(net.leafFor(arch(4, 2))).toBe(0);
    expect(net.leafFor(arch(6, 2))).toBe(1);
    expect(net.leafFor(arch(8, 4))).toBe(1);
    expect(leafOf(net.tree, encodeArch(s, arch(8, 2)))).toBe(1);

    // Training width 8 moves copy 1 only; copy 0 keeps its exact bits.
    const trainable = net.trainableVariables();
    const { grads } = tf.variableGrads(() => tf.losses.softmaxCrossEntropy(tf.oneHot(y, 2), net.apply(x, arch(8, 4), { training: true }).logits) as tf.Scalar, trainable);
    const named = net.namedVariables();
    const withGrad = [...named].filter(([, v]) => grads[v.name]).map(([n]) => n);
    expect(withGrad.length).toBeGreaterThan(0);
    expect(withGrad.every((n) => n.startsWith('fewshot1/'))).toBe(true);
    tf.dispose(Object.values(grads));

    // Slicing goes to the subnet's copy: change copy 1 and the sliced kernel of a width-8 subnet follows.
    tf.tidy(() => named.get('fewshot1/s1.b0.dense.kernel')!.assign(tf.onesLike(named.get('fewshot1/s1.b0.dense.kernel')!)));
    const first = subnetGraph(net, arch(8, 4)).ops[0]!;
    if (first.op !== 'dense') throw new Error(`first op ${first.op}, not dense`);
    expect(Array.from(first.weights.kernel).every((v) => v === 1)).toBe(true);
    expect(net.countParams(arch(8, 4))).toBe(3 * 8 + 8 + 8 * 4 + 4 + 4 * 2 + 2);
    net.dispose();
  });

  it('rebuilds from a checkpointed tree and refuses a tree naming a copy it does not have', () => {
    const s = denseSpace();
    const tree = { position: archPositions(s).findIndex((p) => p.label === 's1.b0.width'), groups: [[0], [1, 2]] as [number[], number[]], children: [{ leaf: 0 }, { leaf: 1 }] as [{ leaf: number }, { leaf: number }] };
    const net = new FewShotSupernet(s, { seed: 1, leaves: 2, tree });
    expect(net.leafFor(arch(6, 2))).toBe(1);
    expect([...net.namedVariables().keys()]).toContain('fewshot1/head.kernel');
    net.dispose();
    expect(() => new FewShotSupernet(s, { seed: 1, leaves: 1, tree })).toThrow(/copy 1/);
    const full = new FewShotSupernet(s, { seed: 1, leaves: 2, tree });
    expect(() => full.split(0, 2, [[0], [1]])).toThrow(/in use/);
    full.dispose();
  });
});
