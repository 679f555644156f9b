import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildSupernet } from '../nn/Supernet.js';
import { largestArch, smallestArch } from '../space/archCodec.js';
import { SearchSpace, type Arch } from '../space/SearchSpace.js';
import { PathOptimizer } from './PathOptimizer.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('PathOptimizer', () => {
  it('updates only variables with a gradient, keyed by stable name, and restores its state exactly', () => {
    for (const kind of ['adam', 'momentum', 'sgd'] as const) {
      const a = tf.variable(tf.tensor1d([1, 2]));
      const b = tf.variable(tf.tensor1d([3]));
      const vars = new Map([['A', a], ['B', b]]);
      const opt = new PathOptimizer(kind, 0.1, vars);
      opt.apply(new Map([[a, tf.tensor1d([1, -1])], [b, tf.tensor1d([1])]]));
      const bAfterFirst = b.dataSync()[0]!;
      // a step whose path skips B: B must not move (no momentum carry-over, no moment decay)
      opt.apply(new Map([[a, tf.tensor1d([1, -1])]]));
      expect(b.dataSync()[0]).toBe(bAfterFirst);
      if (kind === 'adam') {
        // bias-corrected Adam moves each touched weight by ~lr on its first update
        expect(bAfterFirst).toBeCloseTo(2.9, 5);
        expect(opt.getState().state.counts).toEqual({ A: 2, B: 1 });
      }
      const saved = opt.getState();
      const twin = new PathOptimizer(kind, 0.1, vars);
      twin.setState(saved.state, saved.slots);
      const a0 = Array.from(a.dataSync());
      opt.apply(new Map([[a, tf.tensor1d([0.5, 0.5])], [b, tf.tensor1d([2])]]));
      const viaOriginal = [...a.dataSync(), ...b.dataSync()];
      a.assign(tf.tensor1d(a0));
      b.assign(tf.tensor1d([bAfterFirst]));
      twin.apply(new Map([[a, tf.tensor1d([0.5, 0.5])], [b, tf.tensor1d([2])]]));
      expect([...a.dataSync(), ...b.dataSync()]).toEqual(viaOriginal);
      opt.dispose();
      twin.dispose();
    }
  });
});

describe('PathOptimizer, lazy per slice', () => {
  it('a smallest-subnet step leaves the unused slice of a shared kernel and its Adam moments bit-identical', () => {
    const space = SearchSpace.parse({
      name: 'slices',
      input: { kind: 'vector', dim: 3 },
      numClasses: 2,
      // tanh: no unit is dead on the batch, so every used element has a non-zero gradient
      stages: [{ id: 's', depth: [1], block: { type: 'dense', width: [2, 5], activation: 'tanh' } }],
    });
    const net = buildSupernet(space, { seed: 1 });
    const vars = net.namedVariables();
    const opt = new PathOptimizer('adam', 0.05, vars);
    const x = tf.tensor2d([[1, -1, 0.5], [0.2, 0.3, -2], [1, 1, 1], [-0.5, 2, 0]]);
    const y = tf.oneHot(tf.tensor1d([0, 1, 1, 0], 'int32'), 2);
    const step = (arch: Arch) => {
      const { value, grads } = tf.variableGrads(() => tf.losses.softmaxCrossEntropy(y, net.apply(x, arch, { training: true }).logits) as tf.Scalar, net.trainableVariables());
      value.dispose();
      opt.apply(new Map(net.trainableVariables().flatMap((v) => (grads[v.name] ? [[v, grads[v.name]!] as [tf.Variable, tf.Tensor]] : []))));
    };
    step(largestArch(space)); // every element gets moments
    const kernel = vars.get('s.b0.dense.kernel')!; // [3, 5]; the smallest subnet uses columns 0–1
    const snapshot = () => {
      const slots = new Map(opt.getState().slots.map((a) => [a.name, a.data]));
      return { w: Float32Array.from(kernel.dataSync()), m: slots.get('s.b0.dense.kernel#0')!, v: slots.get('s.b0.dense.kernel#1')! };
    };
    const before = snapshot();
    step(smallestArch(space));
    const after = snapshot();
    const unused = (a: ArrayLike<number>) => Array.from(a).filter((_, i) => i % 5 >= 2);
    const usedPart = (a: ArrayLike<number>) => Array.from(a).filter((_, i) => i % 5 < 2);
    for (const k of ['w', 'm', 'v'] as const) {
      expect(unused(after[k])).toEqual(unused(before[k])); // bit-identical (toEqual on floats is exact)
      expect(usedPart(after[k])).not.toEqual(usedPart(before[k]));
    }
    // The head reads the first 2 rows of its [5, 2] kernel: rows 2–4 stay too.
    const head = vars.get('head.kernel')!;
    const h0 = Float32Array.from(head.dataSync());
    step(smallestArch(space));
    expect(Array.from(head.dataSync()).slice(4)).toEqual(Array.from(h0).slice(4));
    // Per-element counts: the used columns have had 3 updates, the unused ones 1.
    const counts = opt.getState().slots.find((a) => a.name === 's.b0.dense.kernel#2')!.data;
    expect(Array.from(counts)).toEqual(Array.from({ length: 15 }, (_, i) => (i % 5 < 2 ? 3 : 1)));
    net.dispose();
    opt.dispose();
  });
});
