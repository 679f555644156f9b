/**
 * Activation functions by the names the search space uses. GELU is the exact form x·Φ(x) (Hendrycks &
 * Gimpel, 2016) through erf, which has a gradient in tfjs and is what tf.layers' 'gelu' and an ONNX Erf
 * construction compute, so exported subnets match the supernet.
 */
import * as tf from '@tensorflow/tfjs';
import type { Activation } from '../space/SearchSpace.js';

export function gelu(x: tf.Tensor): tf.Tensor {
  return tf.mul(x, tf.mul(0.5, tf.add(1, tf.erf(tf.div(x, Math.SQRT2)))));
}

export function activate<T extends tf.Tensor>(x: T, kind: Activation): T {
  switch (kind) {
    case 'relu':
      return tf.relu(x);
    case 'gelu':
      return gelu(x) as T;
    case 'tanh':
      return tf.tanh(x);
    case 'sigmoid':
      return tf.sigmoid(x);
    case 'linear':
      return x;
  }
}
