/**
 * The Router contract (issue 10 item 1): one module per routing mode (./topk.ts, ./topp.ts, …), registered
 * by mode in ./registry.ts. Its schema and paper defaults are the mode's descriptor on the space floor
 * (core/space/routing/<mode>.ts: pure zod, no tf, so the SearchSpace schema can be assembled from them);
 * this file holds the tf half. A router says
 * - how its logits come from the router input and kernel (`logits`; default x · W),
 * - which slots each token chooses (`select`, off the gradient tape, on the probabilities),
 * - the k it uses now (`activeK`: capacity, the fused kernels, SMoE-Dropout's growing k),
 * - its own named aux losses (`auxLosses`) and state it updates while training (`update`: MixER's centroids),
 * - how it lowers to the subnet graph (`lower`: a selection op of core/nn/graph/ops.ts Gating plus the
 *   router kernel as the graph's dense router), whose arithmetic (./selection.ts) is what the graph
 *   evaluator runs — one selection arithmetic per router, shared by training, reference and export.
 * `route` composes them with what every router shares (Switch jitter, MoE++ gating residuals through the
 * per-forward context, capacity in rank / token priority, gate combination, balance and z-losses), so
 * MoELayer calls the registered router and never switches on the mode.
 */
import * as tf from '@tensorflow/tfjs';
import type { Routing } from '../../space/routing/registry.js';
import { describeRouting } from '../../space/routing/registry.js';
import type { RoutingShape } from '../../space/routing/descriptor.js';
import type { Rng } from '../../space/rng.js';
import type { VariableStore } from '../init.js';
import type { ColumnKind, Gating, WeightArray } from '../graph/ops.js';
import type { NamedLoss } from '../types.js';
import type { ForwardContext } from '../forwardContext.js';
import { capacityMaskTensor, renormalizedGates, sumOneHots, withoutGradient } from '../moe/routers.js';
import { biasedScores, lossFreeBiasStep } from './lossFreeBias.js';

/** What a router sees of its MoE layer. */
export interface RouterLayer {
  name: string;
  /** Router columns (FFN experts first, then null / zero / copy / constant). */
  columns: readonly ColumnKind[];
  /** The routing's arithmetic numbers (segments, FFN experts, slots, capacity factor). */
  shape: RoutingShape;
}

export interface RouteOptions {
  training: boolean;
  /** Training progress in [0, 1]. */
  progress?: number;
}

export type { NamedLoss };

/** A GRU cell (torch's): wx [H, 3H], bx [3H], wh [H, 3H], bh [3H], columns [r | z | n] (./rmoe.ts). */
export interface GruWeights {
  wx: WeightArray;
  bx: WeightArray;
  wh: WeightArray;
  bh: WeightArray;
}

/**
 * RMoE's recurrent router lowered (core/nn/graph/ops.ts MoEOp.recurrent): logits = h · router with
 * h = GRU(x · proj, h_prev) along the `chain`; `gru` given by the chain's first layer, null on later ones.
 */
export interface RecurrentRouterWeights {
  chain: string;
  /** [dim, H] */
  proj: WeightArray;
  gru: GruWeights | null;
}

/** Similarity-aware routing lowered (MoEOp.similarity): ws [dim, dim] and the softmax temperature. */
export interface SimilarityRouterWeights {
  ws: WeightArray;
  temperature: number;
}

/** The router kernel lowered to the subnet graph's dense router: logits = x · kernel (+ bias). */
export interface LoweredKernel {
  kernel: WeightArray;
  bias: WeightArray | null;
}

/**
 * Variables a router owns beyond its kernel (RMoE's projection and GRU cell), made with its layer;
 * `borrowed` names those an earlier layer made and shares (it counts and exports them).
 */
export interface RouterParams {
  vars: Record<string, tf.Variable>;
  borrowed: ReadonlySet<string>;
}

/** What a router's `logits` sees beside x and its kernel: its own variables and the per-forward context. */
export interface LogitsContext {
  params: RouterParams | null;
  ctx?: ForwardContext;
}

/** What `lower` sees beside the kernel: the router's variables, the subnet's input width, a slicer. */
export interface LowerContext {
  params: RouterParams | null;
  d: number;
  slice(v: tf.Variable, begin: number[], size: number[]): WeightArray;
}

export interface Router<R extends Routing = Routing> {
  mode: R['mode'];
  /** The router kernel [dMax, S] is trained by gradient (false: SMoE-Dropout's frozen random router, MixER's centroids). */
  trainsKernel: boolean;
  /** The fused WebGPU top-k kernels (core/nn/webgpu/moeFfn.ts) compute this router exactly: softmax(x·W), top-k. */
  fusable: boolean;
  /** Logits [T, S] from the router input x [T, d] and the kernel slice W [rows, S]; default x · W. */
  logits?(x: tf.Tensor2D, kernel: tf.Tensor2D, r: R, c: LogitsContext): tf.Tensor2D;
  /** Rows of the kernel a router input of width d uses (default d; RMoE reads its GRU state, H rows). */
  kernelRows?(r: R, d: number): number;
  /** The router's own variables, made once with its layer (after the layer's other weights). */
  params?(r: R, c: { layer: RouterLayer; dMax: number; store: VariableStore; rng: Rng }): RouterParams;
  /** Parameters of `params` a width-d subnet holds in this layer (shared ones counted by their maker). */
  paramCount?(r: R, d: number, params: RouterParams | null): number;
  /** 2 × multiply-accumulates per token of `params`' computation (beyond the kernel's 2·rows·S). */
  flopsPerToken?(r: R, d: number): number;
  /** The k a token-choice router uses now (after segmentation); null where it varies per token or experts choose. */
  activeK(r: R, layer: RouterLayer, opts: RouteOptions): number | null;
  /** [T, S] 0/1 choice before capacity (evaluated off the gradient tape). */
  select(probs: tf.Tensor2D, r: R, layer: RouterLayer, opts: RouteOptions): tf.Tensor2D;
  /**
   * The token–expert scores the choice ranks and raw gates weigh, from the logits; default softmax (the
   * router probabilities). ProMoE's prototypical routing uses the scaled cosines themselves (identity).
   * Balance loss, entropy and renormalised gates keep reading softmax(logits).
   */
  scores?(logits: tf.Tensor2D, r: R): tf.Tensor2D;
  /**
   * Losses of the mode itself (top-p's entropy loss, ProMoE's routing contrastive loss), beside the shared
   * balance and z-losses; `x` the router input, `kernel` its slice, `chosen` the [T, S] choice (no gradient).
   */
  auxLosses?(r: R, route: { probs: tf.Tensor2D; entropy: tf.Scalar; x: tf.Tensor2D; kernel: tf.Tensor2D; chosen: tf.Tensor2D }): NamedLoss[];
  /**
   * Points in the router input's space that stand for the experts (ProMoE's prototypes), [S, rows], from the
   * kernel slice; the layer reports them with its input for the prototypes-and-tokens view.
   */
  prototypes?(kernel: tf.Tensor2D, r: R): tf.Tensor2D;
  /** Training only, after selection: update state no gradient trains (MixER's centroids). */
  update?(x: tf.Tensor2D, chosen: tf.Tensor2D, kernel: tf.Variable, r: R): void;
  /** `lower` gives the graph's router an [S] bias (parameters an exported model holds beyond the kernel). */
  lowersWithBias?: boolean;
  /** Inference semantics as a subnet-graph selection op, and the kernel as the graph's dense router. */
  lower(r: R, layer: RouterLayer, kernel: WeightArray, c?: LowerContext): { gating: Gating; router: LoweredKernel; recurrent?: RecurrentRouterWeights; similarity?: SimilarityRouterWeights; prototype?: boolean };
}

/** The default kernel lowering: logits = x · W, no bias. */
export const plainKernel = (kernel: WeightArray): LoweredKernel => ({ kernel, bias: null });

/** Inputs of one routing step that the MoE layer owns. */
export interface RouteInput {
  /** The router input [T, d] (the experts see the same x, unjittered). */
  x: tf.Tensor2D;
  /**
   * The full router kernel [dMax, S]; the first d rows are used (`kernelRows`). A PR-MoE subnet with fewer
   * experts passes its columns of the kernel (a tensor, not the variable; the layer's `columns` match them).
   */
  kernel: tf.Variable | tf.Tensor2D;
  /**
   * Auxiliary-loss-free balancing's per-expert bias [S] (./lossFreeBias.ts): added to the probabilities for
   * the choice only, updated from the batch's loads while training at `selectionBiasRate`; null = off.
   */
  selectionBias?: tf.Variable | null;
  selectionBiasRate?: number;
  /** The router's own variables (`Router.params`), or null. */
  params?: RouterParams | null;
  /** MoE++ gating-residual map [S, S], or null. */
  gateMap: tf.Variable | null;
  /** Switch jitter ε (0: off) and the seed of this call's noise. */
  jitter: number;
  jitterSeed: number;
  capacityFactor: number | null;
  capacityPriority: 'rank' | 'token';
  balanceTau: number;
  /**
   * SCMoE's weak activation (core/nn/selfContrast.ts): choose the slots of these 0-based ranks of each token's
   * scores instead of the router's choice, gates renormalised over them (the reference's rank-k routing).
   */
  ranks?: readonly number[] | null;
}

export interface Route {
  logits: tf.Tensor2D;
  probs: tf.Tensor2D;
  /** [T, S] 0/1 chosen before capacity drops. */
  chosen: tf.Tensor2D;
  /** [T, S] 0/1 kept after capacity drops (the slots that run). */
  kept: tf.Tensor2D;
  /** [T, 2S] = [chosen | kept], for one host read. */
  masks: tf.Tensor2D;
  /** [T, S] gate of each kept slot (0 elsewhere). */
  gates: tf.Tensor2D;
  /** Unweighted Switch balance loss; null where experts choose (balanced by construction). */
  balance: tf.Scalar | null;
  entropy: tf.Scalar;
  /** Every weighted loss: balance (auxLossWeight), z-loss (zLossWeight) and the router's own. */
  losses: NamedLoss[];
}

/** The per-forward context (../forwardContext.ts); routers read and write its logits and state map. */
export type { ForwardContext, StateKey } from '../forwardContext.js';
export { newForwardContext, stateKey } from '../forwardContext.js';
/** The routing half of the per-forward context (kept as a name for existing callers). */
export type RouteContext = ForwardContext;

/** Columns whose expert computes something (FFN, copy, constant); null and zero experts do not. */
export function computes(kind: ColumnKind): boolean {
  return kind !== 'null' && kind !== 'zero';
}

export interface LossWeights {
  auxLossWeight: number;
  zLossWeight: number;
}

/**
 * One routing step: logits (jittered input while training, + W_g · the previous layer's logits under a
 * gating residual), softmax, the router's choice, capacity (token-choice modes, training, FFN experts only:
 * ceil(cf · k · T / E), E the FFN experts; top-p uses this batch's mean number of choices, rounded up),
 * gates ('renormalize' over the chosen slots that compute, before drops) and the losses.
 */
export function route<R extends Routing>(router: Router<R>, r: R, layer: RouterLayer, input: RouteInput, weights: LossWeights, opts: RouteOptions, ctx?: RouteContext): Route {
  const { x } = input;
  const [T, d] = x.shape;
  const S = layer.columns.length;
  const desc = describeRouting(r);
  // Switch Transformer jitter: multiplicative uniform noise on the router input only (the experts see x).
  const eps = input.jitter;
  const xr = opts.training && eps > 0 ? tf.mul(x, tf.randomUniform([T, d], 1 - eps, 1 + eps, 'float32', input.jitterSeed)) : x;
  const W = input.kernel.slice([0, 0], [router.kernelRows?.(r, d) ?? d, S]) as tf.Tensor2D;
  let logits = router.logits ? router.logits(xr as tf.Tensor2D, W, r, { params: input.params ?? null, ctx }) : (tf.matMul(xr, W) as tf.Tensor2D);
  const prev = ctx?.logits;
  if (input.gateMap && prev && prev.shape[0] === T && prev.shape[1] === S) logits = tf.add(logits, tf.matMul(prev, input.gateMap)) as tf.Tensor2D;
  if (ctx) ctx.logits = logits;
  const probs = tf.softmax(logits) as tf.Tensor2D;
  // What the choice ranks and raw gates weigh: the probabilities, or the router's own scores (ProMoE).
  const routerScores = router.scores ? router.scores(logits, r) : probs;

  const capped = opts.training && input.capacityFactor !== null && desc.tokenChoice;
  const E = layer.shape.ffnExperts;
  const bias = input.selectionBias ?? null;
  const masks = withoutGradient(probs, () => {
    // What the choice ranks by: the probabilities, plus the loss-free bias where the block has one.
    const scores = bias ? biasedScores(routerScores, bias as tf.Tensor1D) : routerScores;
    const chosen = input.ranks ? rankMaskTensor(scores, input.ranks) : router.select(scores, r, layer, opts);
    let kept = chosen;
    if (capped) {
      const k0 = router.activeK(r, layer, opts);
      const k = k0 === null ? tf.maximum(1, tf.ceil(tf.div(tf.sum(chosen), T))) : tf.scalar(k0);
      const cap = tf.ceil(tf.mul(k, (input.capacityFactor! * T) / E));
      const unlimited = tf.tensor1d(layer.columns.map((c) => (c === 'ffn' ? 0 : T + 1)));
      const capacity = tf.maximum(tf.mul(cap, tf.tensor1d(layer.columns.map((c) => (c === 'ffn' ? 1 : 0)))), unlimited);
      kept = capacityMaskTensor(chosen, capacity, input.capacityPriority, scores, desc.maxChoices(r, layer.shape));
    }
    return tf.concat([chosen, kept], 1) as tf.Tensor2D;
  });
  const chosen = masks.slice([0, 0], [T, S]);
  const kept = masks.slice([0, S], [T, S]);
  if (opts.training && router.update) {
    if (!(input.kernel instanceof tf.Variable)) throw new Error(`${layer.name}: this router updates its kernel in place, so it needs the whole kernel variable, not a subnet's column slice`);
    router.update(x, chosen, input.kernel, r);
  }
  if (opts.training && bias && (input.selectionBiasRate ?? 0) > 0) {
    const next = withoutGradient(probs, () => lossFreeBiasStep(bias as tf.Tensor1D, chosen, layer.columns, input.selectionBiasRate!));
    bias.assign(next);
    next.dispose();
  }

  let gates = tf.mul(routerScores, kept) as tf.Tensor2D;
  if (input.ranks || desc.defaultGate(r, layer.shape.segments) === 'renormalize') {
    const computing = tf.tensor1d(layer.columns.map((c) => (computes(c) ? 1 : 0)));
    gates = tf.mul(renormalizedGates(logits, tf.mul(chosen, computing) as tf.Tensor2D), kept) as tf.Tensor2D;
  }

  // Switch balance loss S · Σ η_i f_i P_i: f from the (gradient-free) choice, P carries the gradient; MoE++
  // weights zero / copy / constant slots by τ; AdaMoE's null experts are ordinary slots, as in its reference
  // code. Expert choice balances by construction (f = 1/S, a constant 1 with no gradient): none reported.
  const balance = desc.tokenChoice ? balanceLoss(probs, chosen, layer.columns, input.balanceTau) : null;
  const entropy = routerEntropy(probs);
  const losses: NamedLoss[] = [];
  if (balance && weights.auxLossWeight > 0) losses.push({ name: 'balance', weight: weights.auxLossWeight, value: balance });
  // ST-MoE router z-loss (Zoph et al., 2022): mean over tokens of logsumexp(logits)².
  if (weights.zLossWeight > 0) losses.push({ name: 'z', weight: weights.zLossWeight, value: tf.mean(tf.square(tf.logSumExp(logits, 1))) as tf.Scalar });
  if (router.auxLosses) losses.push(...router.auxLosses(r, { probs, entropy, x, kernel: W, chosen }));
  return { logits, probs, chosen, kept, masks, gates, balance, entropy, losses };
}

/** [T, S] 0/1: the slots at the given 0-based ranks of each row's scores (ties to the lower slot, as tf.topk). */
export function rankMaskTensor(scores: tf.Tensor2D, ranks: readonly number[]): tf.Tensor2D {
  const S = scores.shape[1];
  const order = tf.topk(scores, S).indices as tf.Tensor2D; // [T, S] slots by rank
  const picked = tf.gather(order, tf.tensor1d(ranks.filter((k) => k < S), 'int32'), 1) as tf.Tensor2D;
  return sumOneHots(picked, S);
}

/** The Switch balance loss S · Σ_i η_i · f_i · P_i (η_i = τ for zero / copy / constant slots, else 1). */
export function balanceLoss(probs: tf.Tensor2D, chosen: tf.Tensor2D, columns: readonly ColumnKind[], tau: number): tf.Scalar {
  const colCounts = tf.sum(chosen, 0);
  const f = tf.div(colCounts, tf.maximum(tf.sum(colCounts), 1));
  const eta = tf.tensor1d(columns.map((c) => (c === 'zero' || c === 'copy' || c === 'constant' ? tau : 1)));
  return tf.mul(columns.length, tf.sum(tf.mul(tf.mul(eta, f), tf.mean(probs, 0)))) as tf.Scalar;
}

/** Mean router entropy per token (nats). */
export function routerEntropy(probs: tf.Tensor2D): tf.Scalar {
  return tf.mean(tf.neg(tf.sum(tf.mul(probs, tf.log(tf.add(probs, 1e-9))), 1))) as tf.Scalar;
}
