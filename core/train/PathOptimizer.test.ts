import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
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
