/**
 * Calibration statistics of one MoE op: its inputs on the calibration batch (the graph's ops before it,
 * run with the reference evaluator), router logits on those inputs, the gating's selection and the slot
 * usage. Calibration data is the validation split (never test).
 */
import * as tf from '@tensorflow/tfjs';
import { compileOps, type MoEOp, type SubnetOp } from '../nn/graph/evaluate.js';
import { selectionMask } from '../nn/routers/selection.js';
import type { MoECalibration } from './CompressionMethod.js';
import { denseForward } from './matrix.js';

/** Router logits, selection and usage of `op` for inputs x [n, dim]. */
export function calibrateMoE(op: MoEOp, x: Float32Array, n: number): MoECalibration {
  const S = op.slots.length;
  const logits = denseForward(x, n, op.router);
  const probs = new Float32Array(n * S);
  for (let t = 0; t < n; t++) {
    let m = -Infinity;
    for (let s = 0; s < S; s++) m = Math.max(m, logits[t * S + s]!);
    let z = 0;
    for (let s = 0; s < S; s++) z += Math.exp(logits[t * S + s]! - m);
    for (let s = 0; s < S; s++) probs[t * S + s] = Math.exp(logits[t * S + s]! - m) / z;
  }
  const mask = selectionMask(op.gating, probs, n, S).data;
  const usage = new Float64Array(S);
  for (let t = 0; t < n; t++) for (let s = 0; s < S; s++) usage[s]! += mask[t * S + s]! / n;
  return { x, n, logits, mask, usage };
}

/** The output of `ops` on a batch, as a plain array (the inputs of the op that follows them). */
export async function runPrefix(ops: readonly SubnetOp[], x: tf.Tensor): Promise<Float32Array> {
  if (ops.length === 0) return (await x.data()) as Float32Array;
  const g = compileOps(ops);
  try {
    const y = g.run(x);
    const d = (await y.data()) as Float32Array;
    y.dispose();
    return d;
  } finally {
    g.dispose();
  }
}
