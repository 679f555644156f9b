/**
 * BatchNorm statistics per evaluated subnet. A supernet's running mean/variance mix every subnet that
 * was trained, so a subnet scored with them is scored with someone else's statistics; OFA (Cai et al.
 * 2020, §3.3) re-estimates them on a few training batches for the subnet first. Search and export do
 * that once per subnet; training-time validation and the final test do it here, and put the running
 * statistics back afterwards so training continues from its own.
 */
import * as tf from '@tensorflow/tfjs';
import { sampleSize, type Split } from '../data/Dataset.js';
import { recalibrateBatchNorm } from '../nn/Supernet.js';
import type { Supernet } from '../nn/types.js';
import type { TrainConfig } from '../protocol/protocol.js';
import type { Arch, SearchSpace } from '../space/SearchSpace.js';
import { describeBlock } from '../space/blocks/registry.js';

export function hasBatchNorm(space: SearchSpace): boolean {
  return space.stages.some((s) => describeBlock(s.block).runningStatistics?.(s.block) ?? false);
}

/** A few training batches for BatchNorm recalibration (OFA uses a couple of thousand images). */
export function recalibrationBatches(train: Split, shape: readonly number[], batches = 4, batchSize = 128): tf.Tensor[] {
  const per = sampleSize(shape);
  const out: tf.Tensor[] = [];
  for (let b = 0; b < batches && (b + 1) * batchSize <= Math.max(train.n, batchSize); b++) {
    const n = Math.min(batchSize, train.n - b * batchSize);
    if (n <= 0) break;
    out.push(tf.tensor(train.x.subarray(b * batchSize * per, (b * batchSize + n) * per), [n, ...shape]));
  }
  return out;
}

/**
 * Recalibration batches for scoring a trained run's evaluated subnet: none for the 'plain' strategy
 * (one fixed subnet has its own running statistics) or spaces without BatchNorm.
 */
export function evaluationBatchNormBatches(config: Pick<TrainConfig, 'strategy' | 'space'>, train: Split, shape: readonly number[]): tf.Tensor[] {
  return config.strategy !== 'plain' && hasBatchNorm(config.space) ? recalibrationBatches(train, shape) : [];
}

/**
 * Run `fn` with `arch`'s own BatchNorm statistics (re-estimated on `batches`), then restore the running
 * statistics (every non-trainable variable) as they were. Spaces without BatchNorm run `fn` directly.
 */
export async function withSubnetBatchNorm<T>(net: Supernet, arch: Arch, batches: readonly tf.Tensor[], fn: () => Promise<T>): Promise<T> {
  if (!hasBatchNorm(net.space) || batches.length === 0) return fn();
  const saved = [...net.namedVariables().values()].filter((v) => !v.trainable).map((v) => [v, tf.clone(v)] as const);
  try {
    recalibrateBatchNorm(net, arch, batches);
    return await fn();
  } finally {
    for (const [v, copy] of saved) {
      v.assign(copy);
      copy.dispose();
    }
  }
}
