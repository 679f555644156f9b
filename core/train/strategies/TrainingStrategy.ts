/**
 * The training-strategy contract (NNI's strategy plug-ins and once-for-all's samplers are the model).
 *
 * A strategy decides which subnets a step trains (`plan`, the only required part). The trainer sums their
 * gradients into one update and reports the task loss, accuracy and routing. Everything else is an
 * optional hook, called by the trainer (core/train/Trainer.ts) in this order each step:
 *
 *   beforeStep  structural edits between steps (progressive-shrinking phases, channel sorting, splits)
 *   sampleBatch which training samples the step uses, with importance weights (PA&DA's data sampling)
 *   plan        the step's subnets, a loss weight per subnet (importance weights of a non-uniform sampler),
 *               optionally a teacher's logits on the batch (a frozen network outside the plan: OFA)
 *   loss        each subnet's objective, given the detached logits of the subnets before it (inplace KD)
 *   afterSubnet each subnet's gradient by variable name, before the sum (gradient norms, gradient cosine)
 *   adjustGradients  the summed gradient before the update (SuperTickets: none for pruned weights)
 *   report      numbers for the run's view (the sampling distribution over time), at validation points
 *
 * Randomness comes only from the trainer's sampler RNG (`ctx.rng`), and a strategy's own state lives in
 * `ctx.state` (created by `init`, JSON-serialisable, saved in every checkpoint and handed back on resume),
 * so a resumed run draws the same subnets and batches as an uninterrupted one.
 */
import type * as tf from '@tensorflow/tfjs';
import type { Split } from '../../data/Dataset.js';
import type { Supernet } from '../../nn/types.js';
import type { TrainingStrategyName } from '../../protocol/strategyNames.js';
import type { Rng } from '../../space/rng.js';
import type { Arch, SearchSpace } from '../../space/SearchSpace.js';
import type { PathOptimizer } from '../PathOptimizer.js';

export interface StrategyContext<S = unknown> {
  space: SearchSpace;
  /** The trainer's sampler RNG (checkpointed). */
  rng: Rng;
  /** The subnet validation scores (config.arch, else the largest). */
  evalArch: Arch;
  largest: Arch;
  smallest: Arch;
  /** Steps completed before this one. */
  step: number;
  /** The run's total steps. */
  steps: number;
  /** step / total steps, in [0, 1). */
  progress: number;
  /** The strategy's own state (from `init`, or the checkpoint's on resume); hooks may mutate it. */
  state: S;
}

export interface StepPlan {
  /** Subnets trained this step; their gradients are summed before one optimizer update. */
  arches: Arch[];
  /** Index into `arches` whose arch vector the step reports. */
  reported: number;
  /**
   * A factor on each subnet's loss (default 1 each): the importance weight 1/(N·p) of a non-uniform path
   * sampler keeps the summed gradient an unbiased estimate of the uniform one (PA&DA).
   */
  weights?: number[];
  /**
   * A teacher outside the plan: its logits on the step's batch, detached (OFA's frozen full network). The
   * trainer hands them to every `loss` call as `teacher` and disposes them after the step.
   */
  teacher?: tf.Tensor2D;
}

/** What the trainer knows when the strategy is created. */
export interface StrategyEnv {
  space: SearchSpace;
  steps: number;
  batchSize: number;
  /** Samples in the training split (the index range of `sampleBatch`). */
  trainSamples: number;
  net: Supernet;
}

/** What a structural hook may edit: the supernet's weights and, kept in step with them, the optimizer state. */
export interface WeightAccess {
  net: Supernet;
  optimizer: PathOptimizer;
  /** The training split, for a hook that measures on its own batches (few-shot's gradient matching). */
  train: Split;
  inputShape: readonly number[];
  batchSize: number;
}

/** The step's batch as tensors (valid during `plan` only), for strategies that score candidates on it. */
export interface StepBatch {
  net: Supernet;
  xs: tf.Tensor;
  ys: tf.Tensor1D;
}

/** A strategy's choice of training samples: indices into the training split and a loss weight per sample. */
export interface BatchPick {
  indices: number[];
  /** Per-sample loss weights (importance weights; mean 1 keeps the loss scale), or null for 1 each. */
  weights: number[] | null;
}

/** One subnet's forward pass, inside the gradient tape. */
export interface SubnetLossInput {
  /** Position of this subnet in the plan. */
  index: number;
  arch: Arch;
  logits: tf.Tensor2D;
  labels: tf.Tensor1D;
  /** Per-sample weights from `sampleBatch` ([batch]), or null. */
  sampleWeights: tf.Tensor1D | null;
  /** The cross-entropy on the hard labels (sample-weighted), already computed: the default objective. */
  taskLoss: tf.Scalar;
  /**
   * The logits of the subnets before this one in the plan, detached (stop-gradient): a teacher's output
   * that the student's loss cannot push on.
   */
  earlier: readonly tf.Tensor2D[];
  /** The plan's `teacher` logits (detached), when it has one. */
  teacher?: tf.Tensor2D;
}

/** A subnet's objective: `total` is differentiated; `kd` is reported beside the task loss when present. */
export interface SubnetLoss {
  total: tf.Scalar;
  kd?: tf.Scalar;
}

/** One subnet's gradients (valid only during the call; tensors are disposed after it). */
export interface SubnetGradients {
  index: number;
  arch: Arch;
  /** Gradient by stable variable name; variables off the subnet's path are absent. */
  grads: ReadonlyMap<string, tf.Tensor>;
  /** The subnet's logits, detached. */
  logits: tf.Tensor2D;
  labels: tf.Tensor1D;
  /** The step's training-split indices when `sampleBatch` chose them, else null. */
  indices: readonly number[] | null;
}

/** Numbers a strategy shows in the run view: scalars or vectors by name (MetricPoint.strategy). */
export type StrategyReport = Record<string, number | number[]>;

export interface TrainingStrategy<S = unknown> {
  name: TrainingStrategyName;
  /** The paper it implements, for comments, the editor's help and the model card. */
  paper: string;
  /** The initial state (JSON-serialisable); absent: the strategy keeps none. */
  init?(env: StrategyEnv): S;
  /** May be asynchronous (it may read tensors back; WebGPU under Node has no synchronous read). */
  beforeStep?(ctx: StrategyContext<S>, weights: WeightAccess): void | Promise<void>;
  /**
   * The network this strategy trains, where it is not the plain weight-sharing supernet (few-shot's
   * sub-supernets); `state` is the checkpoint's when a run is resumed or restored (search, rank, export),
   * null for a fresh run. Absent: buildSupernet.
   */
  buildNet?(space: SearchSpace, seed: number, state: S | null): Supernet;
  /** Called before `plan`, with the training split's size; null keeps the trainer's shuffled batches. */
  sampleBatch?(ctx: StrategyContext<S>, trainSamples: number, batchSize: number): BatchPick | null;
  /** May be asynchronous: AttentiveNAS scores candidates on the step's batch (`batch`) before choosing. */
  plan(ctx: StrategyContext<S>, batch?: StepBatch): StepPlan | Promise<StepPlan>;
  /** Absent: the task loss. Called inside the gradient tape. */
  loss?(input: SubnetLossInput, ctx: StrategyContext<S>): SubnetLoss;
  /** May be asynchronous (reading gradient norms back; WebGPU under Node has no synchronous read). */
  afterSubnet?(g: SubnetGradients, ctx: StrategyContext<S>): void | Promise<void>;
  /**
   * The gradient the optimizer applies, by stable variable name, given the step's summed one (SuperTickets
   * zeroes the pruned weights' entries). The trainer disposes every input tensor not returned; a name left
   * out gets no update.
   */
  adjustGradients?(grads: ReadonlyMap<string, tf.Tensor>, ctx: StrategyContext<S>): ReadonlyMap<string, tf.Tensor>;
  report?(ctx: StrategyContext<S>): StrategyReport;
}

/** A strategy typed by its state (the registry holds them as `TrainingStrategy<unknown>`). */
export function defineStrategy<S>(s: TrainingStrategy<S>): TrainingStrategy<S> {
  return s;
}
