/**
 * "Evaluate this graph on a data split": top-1 accuracy of the graph's reference evaluation with the split's
 * name, sample count and Wilson 95 % interval, checked against a plain-JS forward of the same weights;
 * batching and slicing do not change the count.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { accuracyInterval } from '../../protocol/accuracyInterval.js';
import { createRng } from '../../space/rng.js';
import { evaluateGraph, graphAccuracy } from './evaluate.js';
import type { SubnetGraph } from './ops.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('evaluateGraph', () => {
  it('scores a split like a plain forward, with n and the 95 % interval', async () => {
    const rng = createRng(5);
    const d = 3;
    const n = 37;
    const W1 = Array.from({ length: d * 4 }, () => rng.normal());
    const W2 = Array.from({ length: 4 * 2 }, () => rng.normal());
    const graph: SubnetGraph = {
      input: { kind: 'vector', dim: d },
      numClasses: 2,
      ops: [
        { op: 'dense', name: 'a', weights: { kernel: Float32Array.from(W1), bias: null, inDim: d, outDim: 4 } },
        { op: 'activation', name: 'a.act', fn: 'relu' },
        { op: 'dense', name: 'head', weights: { kernel: Float32Array.from(W2), bias: null, inDim: 4, outDim: 2 } },
      ],
    };
    const x = Float32Array.from({ length: n * d }, () => rng.normal());
    const y = Int32Array.from({ length: n }, () => rng.int(2));
    // Independent forward: relu(x·W1)·W2, argmax (ties to class 0, as tf.argMax).
    let correct = 0;
    for (let i = 0; i < n; i++) {
      const h = [0, 1, 2, 3].map((j) => Math.max(0, [0, 1, 2].reduce((s, k) => s + x[i * d + k]! * W1[k * 4 + j]!, 0)));
      const z = [0, 1].map((c) => h.reduce((s, hj, j) => s + hj * W2[j * 2 + c]!, 0));
      if ((z[1]! > z[0]! ? 1 : 0) === y[i]) correct++;
    }
    const split = { x, y, n };
    const est = await evaluateGraph(graph, split, 'val', { batchSize: 8 });
    expect(est).toEqual({ split: 'val', accuracy: correct / n, n, ci95: accuracyInterval(correct, n) });
    // A slice scores only its samples.
    const part = await graphAccuracy(graph, { split, from: 30, count: 100 });
    expect(part.n).toBe(7);
  });
});
