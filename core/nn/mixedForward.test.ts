import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { archDims, encodeArch, sampleArch } from '../space/archCodec.js';
import { createRng } from '../space/rng.js';
import { SearchSpace } from '../space/SearchSpace.js';
import { newForwardContext } from './forwardContext.js';
import { applyMixed } from './mixedForward.js';
import { buildSupernet } from './Supernet.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

// No residual blocks: there the relaxation reads zero-padded inputs (a documented deviation).
const space = SearchSpace.parse({
  version: 1,
  name: 'mixed',
  input: { kind: 'vector', dim: 3 },
  numClasses: 4,
  stages: [
    { id: 's1', depth: [1], block: { type: 'dense', width: [4, 6] } },
    { id: 's2', depth: [1, 2], block: { type: 'dense', width: [6, 8], ops: ['dense', 'identity'] } },
  ],
});
const maxDiff = (a: tf.Tensor, b: tf.Tensor) => tf.max(tf.abs(tf.sub(a, b))).arraySync() as number;
const oneHot = (vec: readonly number[]) => archDims(space).map((n, p) => tf.tensor1d(Array.from({ length: n }, (_, c) => (c === vec[p] ? 1 : 0))));

describe('applyMixed (DARTS relaxation)', () => {
  it('with one-hot weights is the discrete subnet', () => {
    const net = buildSupernet(space, { seed: 2 });
    const x = tf.randomNormal([5, 3], 0, 1, 'float32', 3);
    const rng = createRng(4);
    for (let i = 0; i < 12; i++) {
      const arch = sampleArch(space, rng);
      const mixed = applyMixed(net, x, oneHot(encodeArch(space, arch)), { training: false }).logits;
      expect(maxDiff(mixed, net.apply(x, arch, { training: false }).logits)).toBeLessThan(1e-5);
    }
    net.dispose();
  });

  it('mixes a block\'s candidates as Σ w · f_w(x) and a stage\'s depths as Σ w_d · h_d (computed from discrete blocks)', () => {
    const one = SearchSpace.parse({
      version: 1, name: 'one', input: { kind: 'vector', dim: 3 }, numClasses: 2,
      stages: [{ id: 's', depth: [1, 2], block: { type: 'dense', width: [2, 4], ops: ['dense', 'identity'], activation: 'tanh' } }],
    });
    const net = buildSupernet(one, { seed: 5 });
    const v = net.namedVariables();
    const x = tf.randomNormal([3, 3], 0, 1, 'float32', 6);
    // Positions: s.depth, s.b0.op, s.b0.width, s.b1.op, s.b1.width.
    const wts = [[0.3, 0.7], [0.8, 0.2], [0.6, 0.4], [0.9, 0.1], [0.25, 0.75]];
    const out = applyMixed(net, x, wts.map((w) => tf.tensor1d(w)), { training: false }).logits;
    // Independently, with plain matrix products on the supernet's variables.
    const dense = (h: tf.Tensor2D, j: number, width: number) => {
      const k = v.get(`s.b${j}.dense.kernel`)!.slice([0, 0], [h.shape[1], width]);
      const y = tf.tanh(tf.add(tf.matMul(h, k), v.get(`s.b${j}.dense.bias`)!.slice(0, width)));
      return tf.pad(y, [[0, 0], [0, 4 - width]]) as tf.Tensor2D;
    };
    const block = (h: tf.Tensor2D, j: number, [op, w]: number[][]) => {
      const main = tf.add(tf.mul(dense(h, j, 2), w![0]!), tf.mul(dense(h, j, 4), w![1]!));
      const hp = tf.pad(h, [[0, 0], [0, 4 - h.shape[1]]]);
      return tf.add(tf.mul(main, op![0]!), tf.mul(hp, op![1]!)) as tf.Tensor2D;
    };
    const h1 = block(x as tf.Tensor2D, 0, [wts[1]!, wts[2]!]);
    const h2 = block(h1, 1, [wts[3]!, wts[4]!]);
    const h = tf.add(tf.mul(h1, wts[0]![0]!), tf.mul(h2, wts[0]![1]!)) as tf.Tensor2D;
    const expected = tf.add(tf.matMul(h, v.get('head.kernel')!), v.get('head.bias')!);
    expect(maxDiff(out, expected)).toBeLessThan(1e-5);
    net.dispose();
  });

  it('is differentiable in the mixture weights; across a stride it average-pools the shallower depth to the deeper one\'s size', () => {
    const net = buildSupernet(space, { seed: 2 });
    const x = tf.randomNormal([5, 3], 0, 1, 'float32', 3);
    // Every position with two or more choices gets a gradient.
    const dims = archDims(space);
    const multi = dims.flatMap((n, p) => (n >= 2 ? [p] : []));
    const g = tf.grads((...a: tf.Tensor[]) => {
      const w = dims.map((n, p) => (multi.includes(p) ? (tf.softmax(a[multi.indexOf(p)]!) as tf.Tensor1D) : tf.ones([n]) as tf.Tensor1D));
      return tf.sum(tf.square(applyMixed(net, x, w, { training: true }).logits)) as tf.Scalar;
    })(multi.map((p) => tf.randomNormal([dims[p]!], 0, 0.5, 'float32', p)));
    for (const t of g) expect(tf.max(tf.abs(t)).arraySync() as number).toBeGreaterThan(0);
    net.dispose();
    const strided = SearchSpace.parse({
      version: 1, name: 'strided', input: { kind: 'image', height: 8, width: 8, channels: 1 }, numClasses: 2,
      stages: [{ id: 'c', depth: [1, 2], block: { type: 'conv', channels: [2], kernel: [3], stride: 2 } }],
    });
    const cnet = buildSupernet(strided, { seed: 1 });
    const img = tf.randomNormal([2, 8, 8, 1], 0, 1, 'float32', 9);
    // Positions: c.depth, c.b0.op, c.b0.channels, c.b0.kernel, c.b1.… (one choice each but the depth).
    const w = archDims(strided).map((n, p) => (p === 0 ? tf.tensor1d([0.3, 0.7]) : (tf.ones([n]) as tf.Tensor1D)));
    const mixed = applyMixed(cnet, img, w, { training: false }).logits;
    // Independently: the depth-1 output (4×4) pooled to the depth-2 output's 2×2, mixed 0.3 / 0.7, then the head.
    const shallow = { stages: [{ depth: 1, blocks: [{ op: 'conv', channels: 2, kernel: 3 }] }] };
    const ctx = newForwardContext();
    const b0 = cnet.blocks[0]![0]!.apply(img, shallow.stages[0]!.blocks[0]!, ctx);
    const b1 = cnet.blocks[0]![1]!.apply(b0, shallow.stages[0]!.blocks[0]!, ctx);
    const h = tf.add(tf.mul(tf.avgPool(b0 as tf.Tensor4D, 2, 2, 'same'), 0.3), tf.mul(b1, 0.7));
    const v = cnet.namedVariables();
    const expected = tf.add(tf.matMul(tf.mean(h, [1, 2]) as tf.Tensor2D, v.get('head.kernel')!), v.get('head.bias')!);
    expect(maxDiff(mixed, expected)).toBeLessThan(1e-5);
    cnet.dispose();
  });
});
