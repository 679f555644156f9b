/**
 * Layer normalisation (Ba et al., 2016) over the last axis, with an elastic width: a subnet of width d ≤ D
 * normalises its d features with the first d entries of γ and β (AutoFormer, Chen et al., 2021, slices its
 * LayerNorm the same way). ε = 1e-5 and the biased variance, as torch.nn.LayerNorm.
 */
import * as tf from '@tensorflow/tfjs';
import type { VariableStore } from '../init.js';

export const LAYER_NORM_EPS = 1e-5;

export class LayerNorm {
  readonly gamma: tf.Variable;
  readonly beta: tf.Variable;

  /** Variables "<name>.gamma" (ones) and "<name>.beta" (zeros), [maxWidth]. */
  constructor(
    readonly name: string,
    readonly maxWidth: number,
    store: VariableStore,
  ) {
    this.gamma = store.add(`${name}.gamma`, tf.ones([maxWidth]));
    this.beta = store.add(`${name}.beta`, tf.zeros([maxWidth]));
  }

  /** x [..., d] with d ≤ maxWidth. */
  apply<T extends tf.Tensor>(x: T): T {
    const d = x.shape[x.rank - 1]!;
    if (d > this.maxWidth) throw new Error(`${this.name}: width ${d} exceeds the allocated ${this.maxWidth}`);
    return tf.tidy(() => {
      const { mean, variance } = tf.moments(x, -1, true);
      const normed = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, LAYER_NORM_EPS)));
      return tf.add(tf.mul(normed, this.gamma.slice(0, d)), this.beta.slice(0, d)) as T;
    });
  }

  /** γ and β at width d. */
  static params(d: number): number {
    return 2 * d;
  }
}
