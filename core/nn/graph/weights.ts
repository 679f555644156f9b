/**
 * Host weight arrays (sliced out of supernet variables) as the subnet graph's dense weights: what every
 * block's and router's lowering uses to emit graph ops (./ops.ts) straight from its variables.
 */
import type { Activation } from '../../space/SearchSpace.js';
import type { DenseWeights, Ffn, WeightArray } from './ops.js';

/** x · kernel (+ bias) for a [inDim, outDim] kernel. */
export function denseOf(kernel: WeightArray, bias: WeightArray | null): DenseWeights {
  const [inDim, outDim] = kernel.shape as [number, number];
  return { kernel: kernel.data, bias: bias ? bias.data : null, inDim, outDim };
}

/** An expert FFN: dim → hidden (activation) → dim. */
export function ffnOf(w1: WeightArray, b1: WeightArray, w2: WeightArray, b2: WeightArray, activation: Activation): Ffn {
  return { up: denseOf(w1, b1), down: denseOf(w2, b2), activation };
}
