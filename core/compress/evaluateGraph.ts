/**
 * Accuracy of a subnet graph on a slice of a data split, through the reference evaluator (the ops every
 * writer is checked against). Issue 10 moves "evaluate a graph on a split" next to the graph; fold this
 * into it when it lands.
 */
import * as tf from '@tensorflow/tfjs';
import { sampleSize, type Split } from '../data/Dataset.js';
import { compileSubnetGraph, inputShapeOf, type SubnetGraph } from '../export/subnetGraph.js';

export interface SplitSlice {
  split: Split;
  /** First sample. */
  from: number;
  /** Samples scored (clamped to the split). */
  count: number;
}

/** Samples [from, from + count) of a split as a batch tensor [count, ...inputShape]. */
export function sliceTensor(graph: SubnetGraph, s: SplitSlice): tf.Tensor {
  const shape = inputShapeOf(graph.input);
  const per = sampleSize(shape);
  const n = Math.max(0, Math.min(s.count, s.split.n - s.from));
  return tf.tensor(s.split.x.subarray(s.from * per, (s.from + n) * per), [n, ...shape]);
}

export async function graphAccuracy(graph: SubnetGraph, s: SplitSlice, batchSize = 512): Promise<{ accuracy: number; n: number }> {
  const g = compileSubnetGraph(graph);
  const end = Math.min(s.split.n, s.from + s.count);
  let correct = 0;
  try {
    for (let i = s.from; i < end; i += batchSize) {
      const x = sliceTensor(graph, { split: s.split, from: i, count: Math.min(batchSize, end - i) });
      const pred = tf.tidy(() => tf.argMax(g.run(x), 1));
      const p = await pred.data();
      for (let j = 0; j < p.length; j++) if (p[j] === s.split.y[i + j]) correct++;
      tf.dispose([x, pred]);
    }
  } finally {
    g.dispose();
  }
  const n = Math.max(0, end - s.from);
  return { accuracy: n > 0 ? correct / n : 0, n };
}
