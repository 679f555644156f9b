/**
 * The plain top-k MoE FFN on whichever backend is active: the fused WebGPU kernels when the backend is
 * webgpu (and d, h are multiples of 4), else the plain tfjs ops. Both compute the same function — see
 * moeFfnReference.ts for the exact semantics (ReLU experts, GShard or token priority, optional gate
 * normalisation).
 */
import type * as tf from '@tensorflow/tfjs';
import { moeFfnFused, moeFfnFusedSupported } from './moeFfnFused.js';
import { moeFfnReference, type MoeFfnOptions, type MoeFfnResult } from './moeFfnReference.js';

export type { MoeFfnOptions, MoeFfnResult } from './moeFfnReference.js';
export { expertCapacity } from './moeFfnReference.js';

export function moeFfn(
  x: tf.Tensor2D,
  routerW: tf.Tensor2D,
  w1: tf.Tensor3D,
  b1: tf.Tensor2D,
  w2: tf.Tensor3D,
  b2: tf.Tensor2D,
  opts: MoeFfnOptions,
): MoeFfnResult {
  const fused = moeFfnFusedSupported(x.shape[1], w1.shape[2]);
  return (fused ? moeFfnFused : moeFfnReference)(x, routerW, w1, b1, w2, b2, opts);
}
