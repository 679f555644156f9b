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

/** Rows of x [n, dim] scaled to unit L2 norm (ProMoE's prototype router reads them). */
function rowNormalized(x: Float32Array, n: number, dim: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let t = 0; t < n; t++) {
    let s = 0;
    for (let j = 0; j < dim; j++) s += x[t * dim + j]! ** 2;
    const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
    for (let j = 0; j < dim; j++) out[t * dim + j] = x[t * dim + j]! * inv;
  }
  return out;
}

/**
 * Router logits, selection and usage of `op` for inputs x [n, dim]. The first pass's router on x (on the
 * row-normalised x for a prototype router); recurrent state, similarity mixing, gating residuals and
 * Chain-of-Experts' later passes are not replayed, so for those routers the statistics are approximate.
 */
export function calibrateMoE(op: MoEOp, x: Float32Array, n: number): MoECalibration {
  const S = op.slots.length;
  const prototype = op.prototype === true;
  const logits = denseForward(prototype ? rowNormalized(x, n, op.dim) : x, n, op.router);
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
