/**
 * Layout helpers the blocks and the supernet share: per-sample shapes and the conversion of an activation
 * into a layout a block reads (core/space/blocks/descriptor.ts TensorLayout).
 */
import * as tf from '@tensorflow/tfjs';
import type { TensorLayout } from '../../space/blocks/descriptor.js';
import { inputShape } from '../../space/planSpace.js';
import type { ActivationShape } from './block.js';

/** The per-sample shape of a space's input (core/space/planSpace.ts). */
export { inputShape };

/**
 * How an activation of shape `s` becomes a layout that `reads` lists: unchanged when it is already one;
 * an image becomes a vector by global average pooling when the space has a layer that reads images
 * (`pool`, core/space/planSpace.ts), else by flattening; a sequence becomes a vector by the mean over its
 * tokens. Null when no conversion applies.
 */
export function toLayout(s: ActivationShape, reads: readonly TensorLayout[], pool: boolean): { shape: ActivationShape; how: 'none' | 'gap' | 'flatten' | 'tokenMean' } | null {
  if (reads.includes(s.layout)) return { shape: s, how: 'none' };
  if (!reads.includes('vector')) return null;
  const vector = (width: number): ActivationShape => ({ layout: 'vector', width, spatial: [1, 1], length: 1 });
  if (s.layout === 'image') return pool ? { shape: vector(s.width), how: 'gap' } : { shape: vector(s.width * s.spatial[0] * s.spatial[1]), how: 'flatten' };
  if (s.layout === 'sequence') return { shape: vector(s.width), how: 'tokenMean' };
  return null;
}

/** Apply a `toLayout` conversion to a batch. */
export function convertBatch(x: tf.Tensor, how: 'none' | 'gap' | 'flatten' | 'tokenMean'): tf.Tensor {
  if (how === 'gap') return tf.mean(x, [1, 2]);
  if (how === 'flatten') return tf.reshape(x, [x.shape[0]!, -1]);
  if (how === 'tokenMean') return tf.mean(x, 1);
  return x;
}

/** Run a row-wise function on the tokens of x: [B, d] as is, [B, T, d] as [B·T, d] and back. */
export function onRows(x: tf.Tensor, f: (rows: tf.Tensor2D) => tf.Tensor2D): tf.Tensor {
  if (x.rank === 2) return f(x as tf.Tensor2D);
  const lead = x.shape.slice(0, -1);
  const y = f(tf.reshape(x, [-1, x.shape[x.rank - 1]!]) as tf.Tensor2D);
  return tf.reshape(y, [...lead, y.shape[1]]);
}
