/**
 * The per-forward context (issue 10): one object per forward pass, made by its caller (Supernet.apply, a
 * BatchNorm recalibration pass, the graph evaluator) and threaded through every block and router in forward
 * order. It carries
 * - what the pass is: `training`, `progress` (0..1, SMoE-Dropout's growing k), the data `split` evaluated;
 * - state that crosses layers: the last MoE layer's router `logits` (MoE++ gating residuals) and a `state`
 *   map keyed per module — a layerwise recurrent router's GRU hidden state, MomentumSMoE's momentum buffer —
 *   read and written only by that module (declare a key with `stateKey<T>('rmoe.hidden')` in the module's
 *   own file, so adding such a module edits no shared file);
 * - what the pass collects: MoE `reports` (loads, drops, entropy…), weighted aux `losses`, and, in a
 *   recalibration pass, the batch statistics of blocks with running statistics (`calibration`).
 * Tensors stored here live for the pass (the caller's tidy scope disposes them), except those a block
 * keeps on purpose (`calibration` entries are `tf.keep`-ed and disposed by the recalibration).
 */
import type * as tf from '@tensorflow/tfjs';
import type { MoELayerOutput, NamedLoss } from './types.js';

/** A typed key of the state map; the name is the module's own (e.g. 'rmoe.hidden', 'momentum.buffer'). */
export interface StateKey<T> {
  readonly name: string;
  /** Phantom field carrying the value type (never set). */
  readonly value?: T;
}

export function stateKey<T>(name: string): StateKey<T> {
  return { name };
}

/**
 * The cross-layer state map: a Map keyed by module name (so `state.get('rmoe')` keeps working) with typed
 * access through `StateKey`s.
 */
export class ForwardState extends Map<string, unknown> {
  read<T>(key: StateKey<T>): T | undefined {
    return this.get(key.name) as T | undefined;
  }

  write<T>(key: StateKey<T>, value: T): void {
    this.set(key.name, value);
  }
}

export interface ForwardContext {
  /** Training pass (batch statistics, capacity drops, jitter, router updates) or inference. */
  training: boolean;
  /** Training progress in [0, 1]. */
  progress?: number;
  /** The data split being evaluated ('train', 'val', 'test'), where the caller knows it. */
  split?: string;
  /**
   * The subnet's architecture features (core/space/archFeatures.ts), set by Supernet.apply: blocks whose
   * weights depend on the whole architecture (Mixture-of-Supernets, ./blocks/archMixture.ts) read them.
   */
  archFeatures?: readonly number[];
  /** The router logits of the last MoE layer (MoE++ gating residuals read them). */
  logits: tf.Tensor2D | null;
  /** Cross-layer state, keyed per module. */
  state: ForwardState;
  /** MoE layer reports in forward order (ForwardResult.moe). */
  reports: MoELayerOutput[];
  /** Weighted aux losses (balance, z, a router's own); Supernet.apply sums weight · value. */
  losses: NamedLoss[];
  /**
   * Set in a recalibration pass (OFA, Cai et al., 2020, §3.3): blocks with running statistics push their
   * batch statistics here under their name (tf.keep-ed), use batch statistics, and leave running ones alone.
   */
  calibration: Map<string, tf.Tensor[][]> | null;
}

export interface ForwardContextOptions {
  training?: boolean;
  progress?: number;
  split?: string;
  archFeatures?: readonly number[];
  calibration?: Map<string, tf.Tensor[][]> | null;
}

/** A fresh per-forward context (inference unless `training` is set). */
export function newForwardContext(opts: ForwardContextOptions = {}): ForwardContext {
  return {
    training: opts.training ?? false,
    progress: opts.progress,
    split: opts.split,
    ...(opts.archFeatures ? { archFeatures: opts.archFeatures } : {}),
    logits: null,
    state: new ForwardState(),
    reports: [],
    losses: [],
    calibration: opts.calibration ?? null,
  };
}
