/**
 * AttentiveNAS (Wang et al., CVPR 2021): the sandwich with inplace distillation, where each of the two
 * middle subnets is the best ("BestUp") or worst ("WorstUp") of `ATTENTIVE_TRIALS` candidates of about the
 * same FLOPs, judged by the mini-batch loss on the step's own batch — the paper's cheap performance
 * estimator and its released configs' choice ("BestUp-3 (loss)", facebookresearch/AttentiveNAS,
 * train_attentive_nas.py: largest, the attentive ones, the smallest last; candidates scored under
 * no_grad in training mode). The registered strategy is BestUp, the setting of the paper's A0–A6 models.
 *
 * Deviation: AttentiveNAS draws a FLOPs target and then candidates from a precomputed table of
 * architectures in that 25-MFLOPs bucket; here the target is uniform between the smallest and largest
 * subnet's FLOPs and the candidates are the `ATTENTIVE_TRIALS` of `ATTENTIVE_POOL` uniform draws nearest to
 * it. The accuracy-predictor estimator (the paper's other option) needs (arch, accuracy) pairs from a
 * trained supernet, so it is not offered during training.
 */
import * as tf from '@tensorflow/tfjs';
import type { Supernet } from '../../nn/types.js';
import { sampleArch } from '../../space/archCodec.js';
import type { Rng } from '../../space/rng.js';
import type { Arch, SearchSpace } from '../../space/SearchSpace.js';
import { crossEntropy } from '../evaluate.js';
import { inplaceDistillation } from './distillation.js';
import type { StepBatch, TrainingStrategy } from './TrainingStrategy.js';

export const ATTENTIVE_TRIALS = 3;
export const ATTENTIVE_POOL = 16;
/** Subnets between the largest and the smallest (sandwich n = 4). */
export const ATTENTIVE_MIDDLE = 2;

/** The candidates for one attentive slot: the `trials` of `pool` uniform draws nearest a uniform FLOPs target. */
export function attentiveCandidates(space: SearchSpace, net: Supernet, rng: Rng, range: [number, number], trials = ATTENTIVE_TRIALS, pool = ATTENTIVE_POOL): Arch[] {
  const target = range[0] + rng.next() * (range[1] - range[0]);
  const draws = Array.from({ length: pool }, () => sampleArch(space, rng)).map((a) => ({ a, d: Math.abs(net.countFlops(a) - target) }));
  draws.sort((x, y) => x.d - y.d);
  return draws.slice(0, trials).map((x) => x.a);
}

/** Mini-batch loss of each candidate on the step's batch (no gradient; training mode, as the reference). */
export async function candidateLosses(batch: StepBatch, candidates: readonly Arch[]): Promise<number[]> {
  const losses = tf.tidy(() => tf.stack(candidates.map((a) => crossEntropy(batch.net.apply(batch.xs, a, { training: true }).logits, batch.ys))));
  const v = await losses.data();
  losses.dispose();
  return Array.from(v);
}

export function attentiveStrategy(mode: 'best' | 'worst'): TrainingStrategy {
  return {
    name: 'attentivenas',
    paper: 'Wang et al., AttentiveNAS: Improving Neural Architecture Search via Attentive Sampling (2021)',
    async plan({ space, rng, largest, smallest }, batch) {
      if (!batch) throw new Error('attentivenas: plan needs the step batch (its candidates are scored on it)');
      const range: [number, number] = [batch.net.countFlops(smallest), batch.net.countFlops(largest)];
      const middle: Arch[] = [];
      for (let i = 0; i < ATTENTIVE_MIDDLE; i++) {
        const candidates = attentiveCandidates(space, batch.net, rng, range);
        const losses = await candidateLosses(batch, candidates);
        const pick = losses.reduce((bi, l, j) => ((mode === 'best' ? l < losses[bi]! : l > losses[bi]!) ? j : bi), 0);
        middle.push(candidates[pick]!);
      }
      return { arches: [largest, ...middle, smallest], reported: 1 };
    },
    loss: (input) => inplaceDistillation(input),
  };
}

export const attentivenas = attentiveStrategy('best');
