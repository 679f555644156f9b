/**
 * The contract between the supernet (core/nn), the trainer (core/train) and search/export (core/search,
 * core/export). Tensors stay inside the core; anything that leaves it is resolved to numbers first.
 */
import type * as tf from '@tensorflow/tfjs';
import type { Arch, SearchSpace } from '../space/SearchSpace.js';

/** A weighted loss a router adds to the training objective. */
export interface NamedLoss {
  name: string;
  weight: number;
  value: tf.Scalar;
}

/** What one MoE layer reports for one forward pass (tensors; the trainer resolves them). */
export interface MoELayerOutput {
  /** Stable layer name, e.g. "s2.b0" (stage id + block index). */
  layer: string;
  /** Names of expert slots in load order: routed (e0…), shared, then null/zero/copy/constant. */
  expertNames: string[];
  /** [slots] fraction of routing assignments taken by each slot (before capacity drops). */
  load: tf.Tensor1D;
  /** Slot indices of always-on experts (DeepSeekMoE shared experts): no routing metric counts them. */
  alwaysOn?: number[];
  /** scalar: fraction of assignments dropped by the capacity limit. */
  dropped: tf.Scalar;
  /** scalar: mean router entropy per token (nats). */
  entropy: tf.Scalar;
  /** scalar: this layer's unweighted balance loss; null for expert choice (balanced by construction). */
  auxLoss: tf.Scalar | null;
  /**
   * Every weighted loss the layer adds to the objective (balance × auxLossWeight, z-loss × zLossWeight, the
   * router's own such as top-p's entropy loss); Supernet.apply sums weight · value.
   */
  losses?: NamedLoss[];
  /** scalar: the ST-MoE router z-loss, unweighted; present when the block's zLossWeight > 0. */
  zLoss?: tf.Scalar;
  /** scalar: mean number of experts (of all slots) active per token. */
  meanActive: tf.Scalar;
  /** [tokens] the slot with the highest routing weight for each token (specialization maps). */
  topExpert: tf.Tensor1D;
  /** Routers with prototypes (ProMoE): [slots, d] the prototypes, and [tokens, d] the router input. */
  prototypes?: tf.Tensor2D;
  routerInput?: tf.Tensor2D;
  /** [tokens, slots] 1 where the token used the slot (co-activation). */
  mask: tf.Tensor2D;
  /**
   * [tokens, slots] the weight each slot's output entered the token's sum with (0 where unused; shared
   * experts 1); the token view's hover. The fused WebGPU path reports them at inference only.
   */
  gates?: tf.Tensor2D;
}

export interface ForwardResult {
  logits: tf.Tensor2D;
  /** Weighted sum of every MoE layer's balance loss (already multiplied by each auxLossWeight). */
  auxLoss: tf.Scalar;
  moe: MoELayerOutput[];
}

export interface ForwardOptions {
  training: boolean;
  /** Training progress in [0, 1]; SMoE-Dropout grows k with it. */
  progress?: number;
}

/** A weight-sharing supernet built from a SearchSpace. */
export interface Supernet {
  readonly space: SearchSpace;
  /** Forward a batch through the subnet `arch` (weights are slices of the supernet's). */
  apply(x: tf.Tensor, arch: Arch, opts: ForwardOptions): ForwardResult;
  /** All trainable variables (the optimizer updates only those the sampled path touched). */
  trainableVariables(): tf.Variable[];
  /** Every variable by stable name (checkpointing; includes non-trainable ones such as BN statistics). */
  namedVariables(): Map<string, tf.Variable>;
  /** Parameter count of one subnet (what an exported model would hold). */
  countParams(arch: Arch): number;
  /** Multiply-accumulates ×2 for one sample through the subnet (MoE counted at the active experts). */
  countFlops(arch: Arch): number;
  /**
   * The supernet that holds this subnet's weights, where there are several (few-shot sub-supernets,
   * core/nn/FewShotSupernet.ts); absent: this one. Slicing and BatchNorm recalibration go through it.
   */
  resolve?(arch: Arch): Supernet;
  dispose(): void;
}
