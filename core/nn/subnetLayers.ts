/**
 * The concrete layers of one subnet, weights already sliced out of the supernet, as plain arrays
 * (`subnetWeights` in Supernet.ts builds it; core/export turns it into tfjs / ONNX graphs).
 *
 * The list runs in forward order on a batch `x` of shape [N, ...inputShape] (NHWC for images):
 * - `flatten` / `globalAvgPool`: image → vector, where the first dense/moe stage (or the head) starts.
 * - `dense`: y = act(x · kernel + bias); with `residual`, y = x + act(x · kernel + bias). The residual is
 *   only present where the block's input and output widths are equal (as OFA keeps a shortcut only
 *   where shapes match).
 * - `conv`: 'same' padding, `stride`, kernel HWIO; then `batchNorm` (inference statistics) if present,
 *   else `bias`; then the activation.
 * - `moe`: see `MoESubnetLayer`.
 * - `head`: logits = x · kernel + bias (no activation); always last.
 * Identity blocks and blocks beyond the chosen depth do not appear.
 */
import type { Activation } from '../space/SearchSpace.js';

import type { ColumnKind, Gating, WeightArray } from './graph/ops.js';

export type { ColumnKind, WeightArray };

export interface FfnWeights {
  /** [d, h] */
  w1: WeightArray;
  /** [h] */
  b1: WeightArray;
  /** [h, d] */
  w2: WeightArray;
  /** [d] */
  b2: WeightArray;
}

/** A GRU cell (torch's): wx [H, 3H], bx [3H], wh [H, 3H], bh [3H], columns [r | z | n] (core/nn/routers/rmoe.ts). */
export interface GruWeights {
  wx: WeightArray;
  bx: WeightArray;
  wh: WeightArray;
  bh: WeightArray;
}

/**
 * RMoE's recurrent router: the layer's logits are h · router with h = GRU(x · proj, h_prev), h_prev the
 * state the previous layer of the same `chain` left in the list (zeros for the chain's first layer). `gru`
 * is the chain's shared cell, given by the first layer of the chain; null on later ones (they reuse it).
 */
export interface RecurrentRouterWeights {
  chain: string;
  /** [dim, H] */
  proj: WeightArray;
  gru: GruWeights | null;
}

/**
 * Similarity-aware routing (core/nn/routers/similarity.ts): the layer's expert distribution is mixed over the
 * rows routed together, p̃ = softmax_rows(x ws xᵀ / temperature) · softmax(logits), before the selection.
 */
export interface SimilarityRouterWeights {
  /** [dim, dim] */
  ws: WeightArray;
  temperature: number;
}

/** How an exported MoE layer picks slots per token: the graph's selection op (core/nn/graph/ops.ts Gating). */
export type SubnetGating = Gating;

/**
 * y = (residual ? x : 0) + Σ_columns gate_c · expert_c(x) + Σ_shared ffn(x), with
 * logits = x · router (+ routerBias) (+ prevLogits · gateResidual when `gateResidual` is set and the previous MoE layer
 * of the list had as many columns; prevLogits are that layer's logits), probs = softmax(logits),
 * gate = probs × mask, divided by the row sum of the gates of computing columns (all but 'null' and
 * 'zero') when `normalize`.
 * Column kinds: 'ffn' → `experts[c]` (d → h → d, `activation` between); 'null' and 'zero' → 0;
 * 'copy' → x; 'constant' j (index among the constant columns) → α₁·x + α₂·constants[j] with
 * [α₁, α₂] = softmax(x · constantGate[:, 2j : 2j+2]) (MoE++).
 */
export interface MoESubnetLayer {
  kind: 'moe';
  name: string;
  activation: Activation;
  /** Input = output width. */
  dim: number;
  /** Hidden width of each (fine-grained) expert: expertHidden / segments. */
  hidden: number;
  /** [dim, S] router kernel. */
  router: WeightArray;
  /** [S] router bias (MixER's −|c|²: nearest centroid as a dense router), absent or null: none. */
  routerBias?: WeightArray | null;
  columns: ColumnKind[];
  /** Slot index (in `expertNames` order) of each column. */
  columnSlots: number[];
  expertNames: string[];
  /** The FFN experts, in column order (the first columns). */
  experts: FfnWeights[];
  /** DeepSeekMoE shared experts: every token, weight 1. */
  shared: FfnWeights[];
  /** [constantExperts, dim] or null. */
  constants: WeightArray | null;
  /** [dim, 2 · constantExperts] MoE++ mixing projections of the constant experts, or null. */
  constantGate: WeightArray | null;
  /** [S, S] MoE++ gating-residual map applied to the previous MoE layer's logits, or null. */
  gateResidual: WeightArray | null;
  /** RMoE: logits from the GRU state instead of x (`router` is then [H, S]); absent or null: none. */
  recurrent?: RecurrentRouterWeights | null;
  /** Similarity-aware routing: the distribution mixed over the token graph; absent or null: none. */
  similarity?: SimilarityRouterWeights | null;
  /** ProMoE prototypes: the router reads the L2-normalised input, and scores are the logits (no softmax). */
  prototype?: boolean;
  /** DeepSpeed-MoE residual MoE: out = c₀·out + c₁·ffn(x), [c₀, c₁] = softmax(x · coef + coefBias) ([dim, 2], [2]). */
  residualMlp?: { ffn: FfnWeights; coef: WeightArray; coefBias: WeightArray } | null;
  /**
   * Chain-of-Experts: the routers (kernel, bias) of iterations 2..C; absent or null: one pass. The layer then
   * runs C passes over the same experts, pass t with its router, x(t) = x(t−1) + pass_t(x(t−1)), and outputs
   * x(C) (x(C) − x without `residual`).
   */
  iterations?: { kernel: WeightArray; bias: WeightArray | null }[] | null;
  /**
   * MomentumSMoE: the layer's update f (its passes without the residual) becomes −p, p = mu·p_prev + gamma·f,
   * p_prev the previous momentum layer's buffer (core/nn/moe/momentum.ts); absent or null: none.
   */
  momentum?: { mu: number; gamma: number } | null;
  gating: SubnetGating;
  normalize: boolean;
  residual: boolean;
}

export type SubnetLayer =
  | { kind: 'flatten'; name: string }
  | { kind: 'globalAvgPool'; name: string }
  | { kind: 'dense'; name: string; activation: Activation; kernel: WeightArray; bias: WeightArray; residual: boolean }
  | {
      kind: 'conv';
      name: string;
      activation: Activation;
      /** [k, k, inChannels, outChannels] (HWIO), the centre crop of the supernet's largest kernel. */
      kernel: WeightArray;
      stride: 1 | 2;
      bias: WeightArray | null;
      batchNorm: { gamma: WeightArray; beta: WeightArray; mean: WeightArray; variance: WeightArray; epsilon: number } | null;
    }
  | MoESubnetLayer
  | { kind: 'head'; name: 'head'; kernel: WeightArray; bias: WeightArray };
