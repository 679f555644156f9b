/**
 * PA&DA: jointly sampling PAth and DAta (Lu et al., CVPR 2023; ShunLu91/PA-DA nasbench201/train_panda_201.py).
 * Supernet training's gradient variance falls when paths and samples are drawn in proportion to their
 * gradient norms, with importance weights keeping the estimate unbiased.
 *
 * - Paths: each arch position (a stage's depth, a block's op, width, kernel, expert size) has a
 *   distribution over its choices; a step's subnet draws every position from it. After a subnet's
 *   backward, the gradient norm of the weights its choice uses (the block's variables; for a depth, the
 *   whole stage's) is folded into that (position, choice) as the reference does (mean of the previous value
 *   and the new one). At the end of each epoch: p = τ · norm / Σ norm + (1 − τ) · uniform, τ = epoch / epochs.
 * - Data: a sample's gradient norm is approximated by the gradient of the loss at the logits,
 *   ‖softmax(z) − onehot(y)‖₂ (the reference's choice, after Katharopoulos & Fleuret 2018); at the end of each
 *   epoch the next epoch's N indices are drawn with replacement from p = τ · norm / Σ norm + (1 − τ) / N.
 * - Importance weights: a sample's loss is weighted 1 / (N · pᵢ) and a path's by Π u / p over its active
 *   positions (u the uniform probability), so the sampled gradient is an unbiased estimate of the uniform one
 *   (the paper's estimator; the reference script trains with the plain mean). Each weight is clipped to
 *   [1/IW_CLIP, IW_CLIP] (AlphaNet's iw_clip = 5) so a rarely drawn sample cannot dominate a step.
 * Deviations: an epoch is ⌈N / batch⌉ steps of this run; no gradient-norm clipping (the trainer's optimizer).
 */
import * as tf from '@tensorflow/tfjs';
import { sumTensors } from '../../nn/sumTensors.js';
import { activePositions, archDims, archPositions, decodeArch, encodeArch } from '../../space/archCodec.js';
import type { Rng } from '../../space/rng.js';
import { defineStrategy, type StrategyReport, type TrainingStrategy } from './TrainingStrategy.js';

export const IW_CLIP = 5;

export interface PadaState {
  /** Steps per epoch (⌈training samples / batch⌉). */
  epochSteps: number;
  /** Per arch position, the sampling probability of each choice. */
  pathProb: number[][];
  /** Per arch position and choice, this epoch's gradient norm (0: not measured yet). */
  pathNorm: number[][];
  /** Per training sample, its probability this epoch. */
  dataProb: number[];
  /** Per training sample, this epoch's gradient-norm estimate (0: not seen yet). */
  dataNorm: number[];
  /** This epoch's sample order (drawn from dataProb) and the position in it. */
  order: number[];
  cursor: number;
}

const clip = (w: number) => Math.min(IW_CLIP, Math.max(1 / IW_CLIP, w));
/** The reference's running estimate: the mean of the previous value and the new one (the new one alone at first). */
const fold = (prev: number, next: number) => (prev !== 0 ? (prev + next) / 2 : next);

/** τ·x/Σx + (1 − τ)·uniform (uniform alone when nothing was measured). */
export function mixWithUniform(norms: readonly number[], tau: number): number[] {
  const sum = norms.reduce((a, b) => a + b, 0);
  const u = 1 / norms.length;
  return norms.map((x) => (sum > 0 ? tau * (x / sum) + (1 - tau) * u : u));
}

/** `n` indices drawn with replacement from `p`. */
export function drawWithReplacement(p: readonly number[], n: number, rng: Rng): number[] {
  const cdf = new Float64Array(p.length);
  let acc = 0;
  p.forEach((x, i) => (cdf[i] = acc += x));
  return Array.from({ length: n }, () => {
    const r = rng.next() * acc;
    let lo = 0;
    let hi = p.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid]! > r) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  });
}

/** The variable-name prefix whose gradients measure a position's choice: its block, or for a depth its stage. */
function positionPrefix(label: string): string {
  return label.endsWith('.depth') ? `${label.slice(0, -'.depth'.length)}.b` : label.slice(0, label.lastIndexOf('.') + 1);
}

function sampleIndex(p: readonly number[], rng: Rng): number {
  return drawWithReplacement(p, 1, rng)[0]!;
}

/** Per-sample ‖softmax(z) − onehot(y)‖₂, the gradient of the cross-entropy at the logits. */
export function logitGradientNorms(logits: tf.Tensor2D, labels: tf.Tensor1D): tf.Tensor1D {
  return tf.tidy(() => tf.norm(tf.sub(tf.softmax(logits), tf.oneHot(labels, logits.shape[1])), 'euclidean', 1) as tf.Tensor1D);
}

/** End of an epoch: both distributions from this epoch's norms, the next order, the norms reset. */
export function endEpoch(s: PadaState, tau: number, rng: Rng): void {
  s.pathProb = s.pathNorm.map((norms) => mixWithUniform(norms, tau));
  s.pathNorm = s.pathNorm.map((norms) => norms.map(() => 0));
  s.dataProb = mixWithUniform(s.dataNorm, tau);
  s.dataNorm = s.dataNorm.map(() => 0);
  s.order = drawWithReplacement(s.dataProb, s.dataProb.length, rng);
  s.cursor = 0;
}

export const pada: TrainingStrategy = defineStrategy<PadaState>({
  name: 'pada',
  paper: 'Lu et al., PA&DA: Jointly Sampling PAth and DAta for Consistent NAS (CVPR 2023)',
  init: ({ space, trainSamples, batchSize }) => {
    const dims = archDims(space);
    return {
      epochSteps: Math.max(1, Math.ceil(trainSamples / batchSize)),
      pathProb: dims.map((d) => new Array<number>(d).fill(1 / d)),
      pathNorm: dims.map((d) => new Array<number>(d).fill(0)),
      dataProb: new Array<number>(trainSamples).fill(1 / trainSamples),
      dataNorm: new Array<number>(trainSamples).fill(0),
      // The first epoch is uniform: a permutation, drawn when the first step starts (the sampler RNG).
      order: [],
      cursor: 0,
    };
  },
  beforeStep({ state: s, step, steps, rng }) {
    if (s.order.length === 0) s.order = rng.shuffle(Array.from({ length: s.dataProb.length }, (_, i) => i));
    // τ of the epoch that just ended (the reference sets τ = epoch / epochs as the epoch starts): 0 after the first.
    else if (step > 0 && step % s.epochSteps === 0) endEpoch(s, (step / s.epochSteps - 1) / Math.ceil(steps / s.epochSteps), rng);
  },
  sampleBatch({ state: s }, n, batchSize) {
    const indices = Array.from({ length: batchSize }, (_, k) => s.order[(s.cursor + k) % s.order.length]!);
    s.cursor = (s.cursor + batchSize) % s.order.length;
    return { indices, weights: indices.map((i) => clip(1 / (n * s.dataProb[i]!))) };
  },
  plan({ space, rng, state: s }) {
    const vec = s.pathProb.map((p) => sampleIndex(p, rng));
    const active = activePositions(space, vec);
    let w = 1;
    vec.forEach((c, i) => {
      if (active[i]) w *= 1 / s.pathProb[i]!.length / s.pathProb[i]![c]!;
    });
    return { arches: [decodeArch(space, vec)], reported: 0, weights: [clip(w)] };
  },
  async afterSubnet({ arch, grads, logits, labels, indices }, { space, state: s }) {
    const positions = archPositions(space);
    const vec = encodeArch(space, arch);
    const active = activePositions(space, vec);
    const prefixes = positions.map((p) => positionPrefix(p.label));
    const unique = [...new Set(prefixes)];
    const names = [...grads.keys()];
    // One read: the block gradient norms, then (when the batch was sampled here) the per-sample norms.
    const norms = tf.tidy(() => {
      const blocks = tf.stack(
        unique.map((pre) => {
          const mine = names.filter((n) => n.startsWith(pre));
          return mine.length ? tf.sqrt(sumTensors(mine.map((n) => tf.sum(tf.square(grads.get(n)!))))) : tf.scalar(0);
        }),
      );
      return indices ? tf.concat([blocks, logitGradientNorms(logits, labels)]) : blocks;
    });
    const v = await norms.data();
    norms.dispose();
    const byPrefix = new Map(unique.map((p, i) => [p, v[i]!]));
    vec.forEach((c, i) => {
      const g = byPrefix.get(prefixes[i]!)!;
      if (active[i] && g > 0) s.pathNorm[i]![c] = fold(s.pathNorm[i]![c]!, g);
    });
    indices?.forEach((j, k) => (s.dataNorm[j] = fold(s.dataNorm[j]!, v[unique.length + k]!)));
  },
  report({ space, state: s }): StrategyReport {
    const out: StrategyReport = {};
    archPositions(space).forEach((p, i) => {
      if (p.choices.length > 1) out[`sampling:${p.label}`] = s.pathProb[i]!.map((x) => Number(x.toFixed(4)));
    });
    // Effective sample size of the data distribution, as a share of N (1 = uniform).
    const n = s.dataProb.length;
    out.dataEss = 1 / (n * s.dataProb.reduce((a, p) => a + p * p, 0));
    return out;
  },
}) as TrainingStrategy;
