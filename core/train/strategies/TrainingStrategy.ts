/**
 * The training-strategy contract (NNI's strategy plug-ins and once-for-all's samplers are the model):
 * a strategy decides which subnets a step trains. The trainer sums their gradients into one update and
 * reports the metrics of `reported`. Randomness comes only from the trainer's sampler RNG, whose state
 * is checkpointed, so a resumed run draws the same subnets.
 */
import type { Rng } from '../../space/rng.js';
import type { Arch, SearchSpace } from '../../space/SearchSpace.js';
import type { TrainingStrategyName } from '../../protocol/strategyNames.js';

export interface StrategyContext {
  space: SearchSpace;
  /** The trainer's sampler RNG (checkpointed). */
  rng: Rng;
  /** The subnet validation scores (config.arch, else the largest). */
  evalArch: Arch;
  largest: Arch;
  smallest: Arch;
  step: number;
  /** step / total steps, in [0, 1). */
  progress: number;
}

export interface StepPlan {
  /** Subnets trained this step; their gradients are summed before one optimizer update. */
  arches: Arch[];
  /** Index into `arches` whose loss/accuracy/routing the step reports. */
  reported: number;
}

export interface TrainingStrategy {
  name: TrainingStrategyName;
  /** The paper it implements, for comments, the editor's help and the model card. */
  paper: string;
  plan(ctx: StrategyContext): StepPlan;
}
