/**
 * SCMoE's validation accuracy against β (core/nn/selfContrast.ts): the strong and weak passes of one subnet
 * run once per batch, and each β contrasts them — every accuracy with its split, sample count and 95 %
 * Wilson interval. β = 0 is the subnet's own accuracy.
 */
import * as tf from '@tensorflow/tfjs';
import { sequentialBatches } from '../data/BatchIterator.js';
import type { Split } from '../data/Dataset.js';
import { contrastLogits, SCMOE_DEFAULTS, weakLogits, type SelfContrast, type SelfContrastNet } from '../nn/selfContrast.js';
import { accuracyInterval } from '../protocol/accuracyInterval.js';
import type { Arch } from '../space/SearchSpace.js';
import { correctCount, EVAL_BATCH } from './evaluate.js';

export const SCMOE_BETAS = [0, 0.1, 0.25, 0.5, 1, 2];

export interface SelfContrastPoint {
  beta: number;
  accuracy: number;
  n: number;
  ci95: [number, number];
  split: string;
}

export async function selfContrastSweep(
  net: SelfContrastNet,
  arch: Arch,
  data: { split: Split; name: string; inputShape: readonly number[]; limit?: number },
  opts: { betas?: readonly number[] } & Partial<Omit<SelfContrast, 'beta'>> = {},
): Promise<SelfContrastPoint[]> {
  const betas = opts.betas ?? SCMOE_BETAS;
  const sc = { alpha: opts.alpha ?? SCMOE_DEFAULTS.alpha, weakRanks: opts.weakRanks ?? SCMOE_DEFAULTS.weakRanks };
  const correct = new Array<number>(betas.length).fill(0);
  let n = 0;
  for (const b of sequentialBatches(data.split, EVAL_BATCH, data.limit ?? data.split.n)) {
    const counts = tf.tidy(() => {
      const x = tf.tensor(b.x, [b.size, ...data.inputShape]);
      const y = tf.tensor1d(b.y, 'int32');
      const strong = net.apply(x, arch, { training: false, progress: 1 }).logits;
      const weak = weakLogits(net, x, arch, sc.weakRanks);
      return tf.stack(betas.map((beta) => correctCount(contrastLogits(strong, weak, { beta, alpha: sc.alpha }), y)));
    });
    const read = await counts.data();
    counts.dispose();
    read.forEach((c, i) => (correct[i]! += c));
    n += b.size;
  }
  return betas.map((beta, i) => ({ beta, accuracy: n ? correct[i]! / n : NaN, n, ci95: accuracyInterval(correct[i]!, n), split: data.name }));
}
