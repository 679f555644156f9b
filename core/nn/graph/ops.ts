/**
 * The subnet graph: the one subnet format (issue 10). A subnet as a plain graph of concrete ops, weights
 * already sliced out of the supernet: every block lowers itself to these ops (core/nn/blocks/block.ts
 * `lower`), and evaluation (./evaluate.ts), compression and export (tfjs LayersModel, ONNX) are passes over
 * it, so the supernet's semantics are captured once and no writer knows about elastic slicing.
 * Ops run in order on a batch [N, ...inputShape] (NHWC for images); the last op produces the logits.
 * This file is types only (a leaf: routers, blocks and writers import it without a cycle).
 */
import type { Activation, InputSpec } from '../../space/SearchSpace.js';

/** A row-major weight array and its shape. */
export interface WeightArray {
  data: Float32Array;
  shape: number[];
}

/** What an MoE layer's router column is: a routed FFN expert, or one of the cheap experts (null, zero, copy, constant). */
export type ColumnKind = 'ffn' | 'null' | 'zero' | 'copy' | 'constant';

export interface DenseWeights {
  /** [inDim, outDim] row-major. */
  kernel: Float32Array;
  bias: Float32Array | null;
  inDim: number;
  outDim: number;
}

/** One expert: dim → hidden (activation) → dim. */
export interface Ffn {
  up: DenseWeights;
  down: DenseWeights;
  activation: Activation;
}

/** A router slot (the order of the router's outputs). */
export type MoESlot =
  | { kind: 'expert'; name: string; ffn: Ffn }
  /** AdaMoE null expert / MoE++ zero expert: contributes nothing. */
  | { kind: 'null'; name: string }
  /** MoE++ copy expert: the input itself. */
  | { kind: 'copy'; name: string }
  /**
   * MoE++ constant expert: α₁·x + α₂·value with [α₁, α₂] = softmax(x · gate) (gate [dim, 2], no bias);
   * without `gate`, the vector alone.
   */
  | { kind: 'constant'; name: string; value: Float32Array; gate?: DenseWeights };

/**
 * Which slots a token uses. Ranking is by router probability, ties to the lower slot index (the order
 * tf.topk and ONNX TopK both give).
 * - topk: the k most probable slots;
 * - topp: the most probable slots until their cumulative probability reaches p (slot i is kept when the
 *   probability mass ranked above it is < p), at most maxK of them.
 */
export type Gating =
  /**
   * `bias` [S]: auxiliary-loss-free balancing's per-expert bias (DeepSeek-V3, core/nn/routers/lossFreeBias.ts),
   * added to the probabilities for the ranking only — the gates stay the unbiased probabilities.
   */
  | { mode: 'topk'; k: number; bias?: number[] }
  | { mode: 'topp'; p: number; maxK: number }
  /**
   * Expert choice (Zhou et al., 2022): each slot takes its C = round(capacityFactor·N/S) most probable
   * tokens of the batch (clamped to [1, N]). Batch-dependent, so only ONNX (whose graph can see the
   * batch axis) can express it; the tfjs LayersModel writer refuses it.
   */
  | {
      mode: 'expert-choice';
      capacityFactor: number;
      /** The capped variant (core/nn/routers/cappedExpertChoice.ts): ≤ maxPerToken slots per token, LP by Dykstra. */
      cap?: { maxPerToken: number; entropy: number; iterations: number };
    };

export interface MoEOp {
  op: 'moe';
  name: string;
  dim: number;
  router: DenseWeights;
  slots: MoESlot[];
  /** DeepSeekMoE shared experts: every token passes through them with weight 1. */
  shared: Ffn[];
  gating: Gating;
  /**
   * Gate = probability renormalised over the selected slots that compute (all but 'null' slots) (true), or
   * the raw probability (false).
   */
  normalize: boolean;
  /**
   * MoE++ gating residual: router logits += (the previous MoE op's logits) · gateResidual ([S, S], no
   * bias), when the previous MoE op of the graph (in evaluation order) has S slots too.
   */
  gateResidual?: DenseWeights | null;
  /**
   * RMoE (core/nn/routers/rmoe.ts): router logits = h · router with h = GRU(x · proj, h_prev), h_prev the state
   * the previous MoE op of the same `chain` left (in evaluation order; zeros for the chain's first op). The
   * GRU cell (torch's; input and hidden products [H, 3H] with biases, columns [r | z | n]) is given by the
   * chain's first op and null on later ones, which reuse it.
   */
  recurrent?: { chain: string; proj: DenseWeights; gru: { input: DenseWeights; hidden: DenseWeights } | null } | null;
  /**
   * Similarity-aware routing (core/nn/routers/similarity.ts): the logits become log(S · softmax(logits)) with
   * S = softmax_rows(x · ws · xᵀ / temperature) over the rows of the batch (ws [dim, dim], no bias) — batch
   * dependent, so only ONNX can express it; the tfjs LayersModel writer refuses it.
   */
  similarity?: { ws: DenseWeights; temperature: number } | null;
  /**
   * ProMoE prototypical routing (core/nn/routers/prototype.ts): the router reads the L2-normalised input (its
   * kernel holds α · the unit prototypes, so logits = α · cos(x, p)) and the selection and raw gates use
   * those logits themselves instead of their softmax. The tfjs LayersModel writer refuses it (no built-in
   * row-normalisation layer).
   */
  prototype?: boolean;
  /**
   * DeepSpeed-MoE residual MoE (core/nn/moe/MoELayer.ts `residualMlp`): the op's output (experts and shared
   * experts) becomes c₀·out + c₁·mlp(x) with [c₀, c₁] = softmax(x · coef + bias), coef [dim, 2].
   */
  residualMlp?: { mlp: Ffn; coef: DenseWeights } | null;
  /**
   * Chain-of-Experts: the routers of passes 2..C over the same slots and experts. The op then outputs
   * x(C) − x with x(0) = x, x(t) = x(t−1) + pass_t(x(t−1)) (pass 1 routed by `router`); absent: one pass.
   */
  iterations?: DenseWeights[] | null;
  /**
   * MomentumSMoE (core/nn/moe/momentum.ts): with f the op's output as above, p = mu · p_prev + gamma · f, p_prev
   * the buffer the previous momentum op of the graph left (zeros for the first, or where its shape differs),
   * and the op outputs −p (its residual op adds x: x − p).
   */
  momentum?: { mu: number; gamma: number } | null;
}

export type SubnetOp =
  | { op: 'dense'; name: string; weights: DenseWeights }
  | {
      op: 'conv2d';
      name: string;
      /** [k, k, inChannels, outChannels] (HWIO), 'same' padding. */
      kernel: Float32Array;
      kernelSize: number;
      inChannels: number;
      outChannels: number;
      stride: 1 | 2;
      bias: Float32Array | null;
    }
  | {
      op: 'batchNorm';
      name: string;
      channels: number;
      gamma: Float32Array;
      beta: Float32Array;
      mean: Float32Array;
      variance: Float32Array;
      epsilon: number;
    }
  | { op: 'activation'; name: string; fn: Activation }
  | { op: 'globalAvgPool'; name: string }
  /** Row-major over NHWC, as tf.reshape flattens. */
  | { op: 'flatten'; name: string }
  /**
   * Sequence → vector: [N, T, d] → [N, d], the mean over the T tokens (the head of a sequence classifier,
   * core/nn/blocks/shapes.ts convertBatch 'tokenMean'). Before it, dense and MoE ops act on every token
   * ([N, T, d] as N·T rows, as the supernet's blocks do).
   */
  | { op: 'tokenMean'; name: string }
  /** x + body(x) */
  | { op: 'residual'; name: string; body: SubnetOp[] }
  /**
   * Token ids [N, T] (floats holding integers) → table[id] + positions[t]: [N, T, dim] (GPT-2's token and
   * learned position tables; core/nn/transformer/embeddings.ts). `table` [vocab, dim], `positions` [length, dim]
   * (a T ≤ length batch reads the first T rows).
   */
  | { op: 'tokenEmbedding'; name: string; vocab: number; dim: number; length: number; table: Float32Array; positions: Float32Array }
  /** Patches [N, T, P] → x · kernel + bias + positions[t]: [N, T, dim] (ViT's patch embedding). `positions` [length, dim]. */
  | { op: 'patchEmbedding'; name: string; weights: DenseWeights; length: number; positions: Float32Array }
  /** Layer norm over the last axis (biased variance, as torch): (x − μ)/√(σ² + ε) · gamma + beta. */
  | { op: 'layerNorm'; name: string; dim: number; gamma: Float32Array; beta: Float32Array; epsilon: number }
  /**
   * Multi-head self-attention on [N, T, dim] (core/nn/transformer/attention.ts): Q/K/V = x·W + b split into
   * `heads` contiguous column blocks of `headDim`, softmax(QKᵀ/√headDim (+ maskValue above the diagonal when
   * causal)) · V, heads merged, · O + b. `length` is the T the model was lowered for (the ONNX mask constant).
   */
  | {
      op: 'attention';
      name: string;
      dim: number;
      heads: number;
      headDim: number;
      causal: boolean;
      maskValue: number;
      length: number;
      q: DenseWeights;
      k: DenseWeights;
      v: DenseWeights;
      o: DenseWeights;
    }
  | MoEOp;

export interface SubnetGraph {
  input: InputSpec;
  numClasses: number;
  /** The last op produces the logits [batch, numClasses]. */
  ops: SubnetOp[];
}

