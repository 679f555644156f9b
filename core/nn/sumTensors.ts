/**
 * Sum of many same-shape tensors on every backend. tfjs-backend-webgpu's AddN binds each input as a storage
 * buffer, and Dawn's per-stage limit is 8 (measured on the lent H200: "The number of storage buffers (66) in
 * the Compute stage exceeds the maximum per-stage limit (8)" from gradient clipping over a transformer's 66
 * variables — the command buffer was then invalid and validation read garbage). So inputs are added in
 * groups of at most ADDN_GROUP, and the group sums again, until one is left.
 */
import * as tf from '@tensorflow/tfjs';

/** Inputs per AddN: Dawn's 8 storage buffers per stage less one for the output. */
export const ADDN_GROUP = 7;

export function sumTensors<T extends tf.Tensor>(xs: readonly T[]): T {
  if (xs.length === 0) throw new Error('sumTensors: nothing to add');
  return tf.tidy(() => {
    let level: tf.Tensor[] = [...xs];
    while (level.length > 1) {
      const next: tf.Tensor[] = [];
      for (let i = 0; i < level.length; i += ADDN_GROUP) {
        const group = level.slice(i, i + ADDN_GROUP);
        next.push(group.length === 1 ? group[0]! : tf.addN(group));
      }
      level = next;
    }
    // A single input comes back as a new tensor (tidy keeps it; the caller's own input is not aliased).
    return (xs.length === 1 ? tf.clone(level[0]!) : level[0]!) as T;
  });
}
