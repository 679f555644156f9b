/**
 * Inplace knowledge distillation (Yu & Huang, US-Nets 2019; BigNAS, Yu et al. 2020): in one step the
 * largest subnet learns from the hard labels and every smaller subnet from the largest's soft labels,
 * computed on the same batch and detached (no gradient flows into the teacher through a student's loss).
 * The loss is AttentiveNAS' `KLLossSoft` without a target (facebookresearch/AttentiveNAS, utils/loss_ops.py):
 * the soft cross-entropy −Σ softmax(t/T) · log softmax(s/T), mean over the batch (T = 1 by default; equal
 * to the KL divergence up to the teacher's entropy, which has no gradient).
 */
import * as tf from '@tensorflow/tfjs';
import type { SubnetLoss, SubnetLossInput } from './TrainingStrategy.js';

export function softCrossEntropy(student: tf.Tensor2D, teacher: tf.Tensor2D, temperature = 1): tf.Scalar {
  return tf.tidy(() => {
    // The teacher's logits come from an earlier subnet's tape (Trainer: `earlier`): constants here.
    const target = tf.softmax(tf.div(teacher, temperature));
    return tf.neg(tf.mean(tf.sum(tf.mul(target, tf.logSoftmax(tf.div(student, temperature))), 1))) as tf.Scalar;
  });
}

/**
 * The loss hook of a plan whose subnet 0 is the teacher (the largest): it keeps the task loss, every later
 * subnet distils from its detached logits.
 */
export function inplaceDistillation(input: SubnetLossInput, temperature = 1): SubnetLoss {
  if (input.index === 0) return { total: input.taskLoss };
  const kd = softCrossEntropy(input.logits, input.earlier[0]!, temperature);
  return { total: kd, kd };
}
