/**
 * AttentiveNAS (Wang et al., CVPR 2021): the sandwich with inplace distillation, where each of the two
 * middle subnets is the best ("BestUp") or worst ("WorstUp") of `ATTENTIVE_TRIALS` candidates of about the
 * same FLOPs (facebookresearch/AttentiveNAS, train_attentive_nas.py: largest, the attentive ones, the
 * smallest last). The paper judges candidates with one of two performance estimators (§3.3):
 *
 * - 'loss' (registered as `attentivenas`): the mini-batch loss on the step's own batch, scored under
 *   no_grad in training mode — the released configs' "BestUp-3 (loss)", the setting of the A0–A6 models.
 * - 'predictor' (registered as `attentivenas-predictor`): an accuracy predictor of (arch → accuracy)
 *   fitted on subnets measured on the supernet. Here it is the ridge predictor on one-hot canonical arch
 *   vectors (core/space/accuracyPredictor.ts, the one search uses), fitted once at `PREDICTOR_FIT_AT` of
 *   training on `PREDICTOR_SUBNETS` uniform subnets' accuracy over `PREDICTOR_BATCHES` training batches,
 *   and kept (checkpointed) for the rest of the run; until then the middle subnets are uniform (BigNAS),
 *   the kind of supernet the paper fits its predictor on.
 *
 * Deviations: AttentiveNAS draws a FLOPs target and then candidates from a precomputed table of
 * architectures in that 25-MFLOPs bucket; here the target is uniform between the smallest and largest
 * subnet's FLOPs and the candidates are the `ATTENTIVE_TRIALS` of `ATTENTIVE_POOL` uniform draws nearest to
 * it. The paper's predictor is a separately trained model (the released one a scikit-learn regressor on
 * ImageNet accuracies of a pretrained supernet's subnets, scored on held-out training images); here it is
 * fitted inside the run on training batches, and ridge rather than a random forest.
 */
import * as tf from '@tensorflow/tfjs';
import { sumTensors } from '../../nn/sumTensors.js';
import type { Supernet } from '../../nn/types.js';
import { AccuracyPredictor, type RidgeModel } from '../../space/accuracyPredictor.js';
import { archDims, canonicalVector, encodeArch, sampleArch } from '../../space/archCodec.js';
import type { Rng } from '../../space/rng.js';
import type { Arch, SearchSpace } from '../../space/SearchSpace.js';
import { correctCount, crossEntropy } from '../evaluate.js';
import { inplaceDistillation } from './distillation.js';
import { measurementBatches } from './measurementBatches.js';
import { defineStrategy, type StepBatch, type StrategyContext, type TrainingStrategy, type WeightAccess } from './TrainingStrategy.js';

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

/** Training progress at which the predictor estimator fits its predictor (uniform middle subnets before). */
export const PREDICTOR_FIT_AT = 0.25;
/** Uniform subnets measured for the fit, and training batches each one's accuracy is measured on. */
export const PREDICTOR_SUBNETS = 48;
export const PREDICTOR_BATCHES = 4;

export type AttentiveMode = 'best' | 'worst';
export type AttentiveEstimator = 'loss' | 'predictor';

export interface AttentiveState {
  /** The fitted predictor (estimator 'predictor'), null before PREDICTOR_FIT_AT. */
  predictor: RidgeModel | null;
  /** The (canonical arch vector, measured accuracy) pairs it was fitted on. */
  measured: { vector: number[]; accuracy: number }[];
}

/** The predictor of a space's subnets: one-hot canonical arch vectors (as predictor-guided search). */
export function archPredictor(space: SearchSpace): AccuracyPredictor {
  return new AccuracyPredictor(archDims(space), (v) => canonicalVector(space, v));
}

/** The index of the best (highest) or worst (lowest) score. */
function pickIndex(scores: readonly number[], highest: boolean): number {
  return scores.reduce((bi, v, j) => ((highest ? v > scores[bi]! : v < scores[bi]!) ? j : bi), 0);
}

/** Accuracy of each subnet over the batches (training mode, no gradient: as the loss estimator scores). */
async function measureAccuracies(net: Supernet, arches: readonly Arch[], batches: readonly { x: tf.Tensor; y: tf.Tensor1D }[]): Promise<number[]> {
  const total = batches.reduce((n, b) => n + b.y.shape[0], 0);
  // One tidy per subnet, so only one subnet's activations are alive at a time; one read at the end.
  const counts = arches.map((a) => tf.tidy(() => sumTensors(batches.map((b) => correctCount(net.apply(b.x, a, { training: true }).logits, b.y)))));
  const correct = tf.stack(counts);
  const v = await correct.data();
  tf.dispose([correct, ...counts]);
  return Array.from(v, (c) => c / total);
}

/** Fit the predictor on `PREDICTOR_SUBNETS` uniform subnets measured on training batches (sampler RNG). */
export async function fitAttentivePredictor(ctx: StrategyContext<AttentiveState>, w: Pick<WeightAccess, 'net' | 'train' | 'inputShape' | 'batchSize'>): Promise<void> {
  const arches = Array.from({ length: PREDICTOR_SUBNETS }, () => sampleArch(ctx.space, ctx.rng));
  const batches = measurementBatches(w.train, w.inputShape, w.batchSize, ctx.rng, PREDICTOR_BATCHES);
  try {
    const acc = await measureAccuracies(w.net, arches, batches);
    const vectors = arches.map((a) => encodeArch(ctx.space, a));
    ctx.state.predictor = archPredictor(ctx.space).fit(vectors, acc).ridge;
    ctx.state.measured = vectors.map((v, i) => ({ vector: canonicalVector(ctx.space, v), accuracy: acc[i]! }));
  } finally {
    for (const b of batches) tf.dispose([b.x, b.y]);
  }
}

export function attentiveStrategy(mode: AttentiveMode, estimator: AttentiveEstimator = 'loss'): TrainingStrategy {
  const name = estimator === 'loss' ? 'attentivenas' : 'attentivenas-predictor';
  return defineStrategy<AttentiveState>({
    name,
    paper: 'Wang et al., AttentiveNAS: Improving Neural Architecture Search via Attentive Sampling (2021)',
    init: () => ({ predictor: null, measured: [] }),
    async beforeStep(ctx, w) {
      if (estimator === 'predictor' && ctx.state.predictor === null && ctx.progress >= PREDICTOR_FIT_AT) await fitAttentivePredictor(ctx, w);
    },
    async plan(ctx, batch) {
      const { space, rng, largest, smallest, state } = ctx;
      if (!batch) throw new Error(`${name}: plan needs the step batch (its candidates are scored on it)`);
      const range: [number, number] = [batch.net.countFlops(smallest), batch.net.countFlops(largest)];
      const predictor = estimator === 'predictor' && state?.predictor ? archPredictor(space).load(state.predictor) : null;
      const middle: Arch[] = [];
      for (let i = 0; i < ATTENTIVE_MIDDLE; i++) {
        if (estimator === 'predictor' && !predictor) {
          middle.push(sampleArch(space, rng));
          continue;
        }
        const candidates = attentiveCandidates(space, batch.net, rng, range);
        // Best = highest predicted accuracy, or lowest loss.
        const pick = predictor
          ? pickIndex(candidates.map((a) => predictor.predict(encodeArch(space, a))), mode === 'best')
          : pickIndex(await candidateLosses(batch, candidates), mode === 'worst');
        middle.push(candidates[pick]!);
      }
      return { arches: [largest, ...middle, smallest], reported: 1 };
    },
    loss: (input) => inplaceDistillation(input),
    report: ({ state }): Record<string, number> => (state?.predictor ? { predictorLooRmse: state.predictor.looRmse } : {}),
  }) as TrainingStrategy;
}

export const attentivenas = attentiveStrategy('best');
/** BestUp by the accuracy predictor. */
export const attentivenasPredictor = attentiveStrategy('best', 'predictor');
