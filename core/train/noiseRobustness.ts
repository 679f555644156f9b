/**
 * MomentumSMoE's robustness view (Teo & Nguyen, 2024, §5 evaluates under corrupted inputs): one trained
 * subnet's validation accuracy under additive Gaussian input noise x + σ·s·ε (s the split's feature
 * standard deviation, ε ~ N(0, 1) drawn once per sample from a fixed seed, so every level and both modes see
 * the same corruption), with its MoE layers' momentum on and off (μ = 0 on the same weights,
 * MoELayer.momentumActive) — from the same run, each accuracy with its split, n and 95 % Wilson interval.
 */
import * as tf from '@tensorflow/tfjs';
import { sequentialBatches } from '../data/BatchIterator.js';
import type { Split } from '../data/Dataset.js';
import type { SelfContrastNet } from '../nn/selfContrast.js';
import { accuracyInterval } from '../protocol/accuracyInterval.js';
import { createRng } from '../space/rng.js';
import type { Arch } from '../space/SearchSpace.js';
import { correctCount, EVAL_BATCH } from './evaluate.js';

export const NOISE_LEVELS = [0, 0.1, 0.25, 0.5, 1];

export interface NoiseAccuracy {
  accuracy: number;
  n: number;
  ci95: [number, number];
}

export interface NoisePoint {
  /** Noise standard deviation in units of the split's feature standard deviation. */
  sigma: number;
  momentum: NoiseAccuracy;
  plain: NoiseAccuracy;
  split: string;
}

export async function noiseRobustness(
  net: SelfContrastNet,
  arch: Arch,
  data: { split: Split; name: string; inputShape: readonly number[]; limit?: number },
  opts: { levels?: readonly number[]; seed?: number } = {},
): Promise<NoisePoint[]> {
  const levels = opts.levels ?? NOISE_LEVELS;
  const { split } = data;
  const n = Math.min(data.limit ?? split.n, split.n);
  const f = split.x.length / split.n;
  let mean = 0;
  for (let i = 0; i < n * f; i++) mean += split.x[i]!;
  mean /= n * f;
  let v = 0;
  for (let i = 0; i < n * f; i++) v += (split.x[i]! - mean) ** 2;
  const std = Math.sqrt(v / (n * f)) || 1;
  const rng = createRng(opts.seed ?? 7);
  const eps = Float32Array.from({ length: n * f }, () => rng.normal());
  const layers = net.moeLayers();
  const correct = levels.map(() => [0, 0]);
  let seen = 0;
  for (const b of sequentialBatches(split, EVAL_BATCH, n)) {
    for (const [mode, active] of [[0, true], [1, false]] as const) {
      layers.forEach((l) => (l.momentumActive = active));
      try {
        const counts = tf.tidy(() => {
          const x = tf.tensor(b.x, [b.size, ...data.inputShape]);
          const e = tf.tensor(eps.subarray(seen * f, (seen + b.size) * f), [b.size, ...data.inputShape]);
          const y = tf.tensor1d(b.y, 'int32');
          return tf.stack(levels.map((s) => correctCount(net.apply(tf.add(x, tf.mul(s * std, e)), arch, { training: false, progress: 1 }).logits, y)));
        });
        const read = await counts.data();
        counts.dispose();
        read.forEach((c, i) => (correct[i]![mode]! += c));
      } finally {
        layers.forEach((l) => (l.momentumActive = true));
      }
    }
    seen += b.size;
  }
  const acc = (c: number): NoiseAccuracy => ({ accuracy: seen ? c / seen : NaN, n: seen, ci95: accuracyInterval(c, seen) });
  return levels.map((sigma, i) => ({ sigma, momentum: acc(correct[i]![0]!), plain: acc(correct[i]![1]!), split: data.name }));
}
