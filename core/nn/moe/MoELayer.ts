/**
 * A Mixture-of-Experts FFN block over tokens = rows of a [T, d] batch.
 *
 * Routing is the block's registered router (core/nn/routers/registry.ts, one module per mode: top-k,
 * top-p, expert choice, SMoE-Dropout, MixER; core/nn/routers/router.ts `route` composes it with what every
 * router shares); this layer never switches on the routing mode. The choice is made with tensor ops off
 * the gradient tape; gates are `probs × mask` so a trained router still learns through the softmax.
 * Gates (the mode's default, core/space/routing/<mode>.ts): 'raw' router probabilities of the chosen
 * slots (Switch top-1,
 * DeepSeekMoE, top-p) or 'renormalize'd over the chosen slots that compute — null and zero experts left
 * out of the sum, as AdaMoE's and MoE++'s code do (GShard top-2, Mixtral). Router options: Switch jitter
 * on the router input while training, the ST-MoE z-loss, MoE++ gating residuals (logits += W_g · the
 * previous MoE layer's logits, through the per-forward MoEForwardContext that Supernet.apply threads).
 *
 * Expert kinds, in router-column order: E·m fine-grained FFN experts (DeepSeekMoE segmentation, Dai et
 * al., 2024: hidden/m units each, k·m of them active), AdaMoE null experts (Zeng et al., 2024) and MoE++
 * zero / copy / constant experts (Jin et al., 2024). DeepSeekMoE shared experts sit outside the router
 * and see every token. Only FFN experts (routed and shared) run an FFN; the others are a mask, an
 * elementwise product, or a small matMul.
 *
 * Dispatch and combine are GShard-style one-hot matrices (Lepikhin et al., 2021): an expert runs on
 * exactly the tokens routed to it, through matMuls only, so gradients work on every tfjs backend
 * (no gather / scatter in the gradient path). Building those matrices needs the routing mask on the
 * host; on WebGPU, which cannot read back synchronously under Node, every FFN expert instead runs on
 * all tokens and is gated (same result, E/k times the FFN compute; `dispatch` selects).
 * A plain top-k block of ReLU experts (no shared / null / zero / copy / constant experts, one segment,
 * widths divisible by 4) instead runs on WebGPU through moeFfn (core/nn/webgpu/moeFfn.ts): fused WGSL
 * kernels that route on the device and compute only the kept rows of each expert, with the block's
 * capacity priority and gate combination, the same function as the paths above (blocks with router
 * jitter, z-loss or gating residuals take the unfused path: the kernels compute the logits themselves).
 *
 * Capacity (token-choice modes, training only): an FFN expert takes at most ceil(capacityFactor·T·k/E)
 * assignments, E the FFN experts (null/zero/copy/constant slots cost nothing, are never capped and are
 * not counted), in `capacityPriority` order — 'rank' (GShard/Switch: all first choices, then all second
 * choices) or 'token'; later ones are dropped and counted. At inference no token is dropped, so an
 * exported model does not depend on the batch it is run with (expert choice inherently does).
 *
 * Balance loss (Switch Transformer, Fedus et al., 2021): S · Σ_i η_i · f_i · P_i over the S routable
 * slots, f_i the fraction of routing assignments slot i got (before drops), P_i its mean router
 * probability, η_i = 1 except τ (`balanceTau`) for MoE++ zero/copy/constant slots. It equals 1 at a
 * perfectly even split (τ = 1) and grows towards S as routing collapses. None for expert choice.
 */
import * as tf from '@tensorflow/tfjs';
import type { Rng } from '../../space/rng.js';
import type { MoEBlock } from '../../space/SearchSpace.js';
import { activate } from '../activations.js';
import { fakeQuantKernel } from '../fakeQuant.js';
import { denseFused, denseFusedSupported } from '../webgpu/denseFused.js';
import { glorotUniform, normalInit, type VariableStore } from '../init.js';
import type { ColumnKind, Ffn, MoEOp, MoESlot, SubnetOp, WeightArray } from '../graph/ops.js';
import { denseOf, ffnOf } from '../graph/weights.js';
import type { MoELayerOutput } from '../types.js';
import { moeFfn } from '../webgpu/moeFfn.js';
import { momentumStep } from './momentum.js';
import { describeRouting } from '../../space/routing/registry.js';
import type { RoutingShape } from '../../space/routing/descriptor.js';
import { routingShape } from '../../space/validateSpace.js';
import { atExperts } from '../../space/blocks/moe.js';
import { balanceLoss, computes, route, routerEntropy, type RouteContext, type RouterLayer, type RouterParams } from '../routers/router.js';
import { routerOf } from '../routers/registry.js';
import { gateCombination, sumOneHots } from './routers.js';

/** WebGPU under Node has no synchronous read-back (tfjs reads through OffscreenCanvas). */
function canReadSync(): boolean {
  return tf.getBackend() !== 'webgpu';
}

export type { ColumnKind };

export interface ExpertWeights {
  w1: tf.Variable;
  b1: tf.Variable;
  w2: tf.Variable;
  b2: tf.Variable;
}

export interface MoEForwardOptions {
  training: boolean;
  progress?: number;
  /**
   * Weight bits of the FFN experts (the block's `bits` choice, 2–8): routed and shared experts' kernels are
   * fake-quantised per output channel with a straight-through gradient (core/nn/fakeQuant.ts); the router and
   * the residual MLP stay float. Absent: float.
   */
  bits?: number;
  /**
   * Routed experts of this subnet (the block's PR-MoE `expertCounts` choice): the first E' experts and the
   * router's columns for them, softmax over those only (`expertView`). Absent: all `experts`.
   */
  experts?: number;
}

/**
 * State one forward pass threads through its MoE layers in order (Supernet.apply makes one per pass):
 * the router logits of the last MoE layer, which the next one adds through its gating residual (MoE++).
 */
export type MoEForwardContext = RouteContext;
export { computes };

/** Weight of the running mean of FFN experts per token (see `measuredFfnPerToken`). */
const FFN_USE_EMA = 0.05;

export class MoELayer {
  readonly columns: ColumnKind[];
  /** Slot index of each router column (slots: routed, shared, null, zero, copy, constant). */
  readonly columnSlots: number[];
  readonly expertNames: string[];
  readonly routedExperts: number;
  readonly router: tf.Variable;
  readonly experts: ExpertWeights[];
  readonly shared: ExpertWeights[];
  readonly constants: tf.Variable | null;
  /** MoE++ constant experts' mixing projections W_c, [dMax, 2·constantExperts] (columns 2c, 2c+1). */
  readonly constantGate: tf.Variable | null;
  /** MoE++ gating-residual map W_g, [S, S], or null when the block has no gating residual. */
  readonly gateMap: tf.Variable | null;
  /**
   * Blocks where the FFN experts a token runs vary (null / zero / copy / constant experts, top-p): the
   * running mean of FFN experts a token chose in training passes that read the routing mask (sparse
   * dispatch), −1 until measured. A non-trainable variable, so checkpoints keep it and a restored supernet
   * counts the same FLOPs.
   */
  readonly ffnUse: tf.Variable | null;
  /**
   * DeepSpeed-MoE residual MoE (Rajbhandari et al., 2022, §4.1; deepspeed/moe/layer.py `use_residual`): a
   * fixed dense MLP beside the routed experts, mixed by a learnt coefficient, y = c₀·MoE(x) + c₁·MLP(x) with
   * [c₀, c₁] = softmax(x W_c + b_c); null when the block has none.
   */
  readonly residualMlp: { ffn: ExpertWeights; coef: tf.Variable; coefBias: tf.Variable } | null;
  /**
   * Auxiliary-loss-free balancing's per-expert selection bias [S] (core/nn/routers/lossFreeBias.ts), a
   * non-trainable variable (checkpointed, exported with the selection), or null where the routing has none.
   */
  readonly selectionBias: tf.Variable | null;
  /** The router's own variables (core/nn/routers/router.ts `Router.params`), or null. */
  readonly routerParams: RouterParams | null;
  /**
   * MomentumSMoE on (the block's `momentum`); false runs the same weights as a plain residual layer with
   * μ = 0, y = x − γ·f (the noise-robustness comparison evaluates one trained subnet both ways).
   */
  momentumActive = true;
  /**
   * SCMoE's weak activation (core/nn/selfContrast.ts): while set, every token uses the slots of these 0-based
   * ranks of its router scores (gates renormalised over them) instead of the routing's choice; null: off.
   */
  weakRanks: readonly number[] | null = null;
  /** Chain-of-Experts: the router kernels of iterations 2..C (the block's `iterations`), shaped as `router`. */
  readonly iterationRouters: tf.Variable[];
  private jitterSeed = 0;
  /** The numbers of this block its routing's arithmetic reads. */
  readonly routingShape: RoutingShape;
  /**
   * 'sparse' runs each FFN expert on its own tokens (needs a synchronous read of the routing mask);
   * 'dense' runs every FFN expert on all tokens and gates the result (for WebGPU); 'fused' runs the
   * block through moeFfn (fused kernels on WebGPU, its plain-tfjs equivalent elsewhere; eligible
   * blocks only, see `fusedEligible`); 'auto' picks fused on WebGPU when eligible, else sparse where
   * the mask can be read synchronously, else dense.
   */
  dispatch: 'auto' | 'sparse' | 'dense' | 'fused' = 'auto';
  /** Expert FFN runs since construction (routed and shared); tests use it to prove who computes. */
  ffnCalls = 0;
  /**
   * Tokens each FFN expert (routed, then shared) processed in the last forward pass; NaN under the
   * fused route, whose per-expert counts stay on the device.
   */
  lastFfnTokens: number[] = [];

  constructor(
    readonly name: string,
    readonly block: MoEBlock,
    /** Largest input width that can reach this layer (weights are allocated at it). */
    readonly dMax: number,
    store: VariableStore,
    rng: Rng,
  ) {
    const m = block.segments;
    this.routedExperts = block.experts * m;
    this.columns = [
      ...Array<ColumnKind>(this.routedExperts).fill('ffn'),
      ...Array<ColumnKind>(block.nullExperts).fill('null'),
      ...Array<ColumnKind>(block.zeroExperts).fill('zero'),
      ...Array<ColumnKind>(block.copyExperts).fill('copy'),
      ...Array<ColumnKind>(block.constantExperts).fill('constant'),
    ];
    this.columnSlots = this.columns.map((_, c) => (c < this.routedExperts ? c : c + block.sharedExperts));
    const names = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}${i}`);
    this.expertNames = [
      ...names('e', this.routedExperts),
      ...names('shared', block.sharedExperts),
      ...names('null', block.nullExperts),
      ...names('zero', block.zeroExperts),
      ...names('copy', block.copyExperts),
      ...names('const', block.constantExperts),
    ];
    const S = this.columns.length;
    this.routingShape = routingShape(block);
    // SMoE-Dropout's frozen random router and MixER's centroids are non-trainable variables.
    const router = routerOf(block.routing);
    // Rows: the router input's width, or what the router reads instead (RMoE: its GRU state).
    const rows = router.kernelRows?.(block.routing, dMax) ?? dMax;
    this.router = store.add(`${name}.moe.router`, normalInit(rng, [rows, S], 1 / Math.sqrt(rows)), router.trainsKernel);
    const hMax = Math.max(...block.expertHidden) / m;
    const expert = (prefix: string): ExpertWeights => ({
      w1: store.add(`${prefix}.w1`, glorotUniform(rng, [dMax, hMax], dMax, hMax)),
      b1: store.add(`${prefix}.b1`, tf.zeros([hMax])),
      w2: store.add(`${prefix}.w2`, glorotUniform(rng, [hMax, dMax], hMax, dMax)),
      b2: store.add(`${prefix}.b2`, tf.zeros([dMax])),
    });
    this.experts = Array.from({ length: this.routedExperts }, (_, i) => expert(`${name}.moe.e${i}`));
    this.shared = Array.from({ length: block.sharedExperts }, (_, i) => expert(`${name}.moe.shared${i}`));
    // Deviation: the reference draws the constant vectors from N(0, 1); 0.02 keeps them at the scale of x here.
    this.constants = block.constantExperts > 0 ? store.add(`${name}.moe.const`, normalInit(rng, [block.constantExperts, dMax], 0.02)) : null;
    // New variables draw from the stream only when their option is on, so other blocks keep their weights.
    this.constantGate = block.constantExperts > 0 ? store.add(`${name}.moe.constGate`, normalInit(rng, [dMax, 2 * block.constantExperts], 0.02)) : null;
    this.gateMap = block.gatingResidual ? store.add(`${name}.moe.gateMap`, normalInit(rng, [S, S], 0.02)) : null;
    if (block.routerJitter > 0) this.jitterSeed = rng.int(2 ** 30);
    const varies = block.nullExperts + block.zeroExperts + block.copyExperts + block.constantExperts > 0 || describeRouting(block.routing).variableK;
    this.ffnUse = varies ? store.add(`${name}.moe.ffnUse`, tf.scalar(-1), false) : null;
    // Zeros, no draw from the stream: other weights stay as they were.
    this.selectionBias = (describeRouting(block.routing).selectionBiasRate?.(block.routing) ?? 0) > 0 ? store.add(`${name}.moe.selectBias`, tf.zeros([S]), false) : null;
    // The router's own variables (RMoE's projection and shared GRU cell) draw last, so other blocks keep their weights.
    this.routerParams = router.params?.(block.routing, { layer: this.routerLayer, dMax, store, rng }) ?? null;
    // DeepSpeed-MoE residual MoE: a dense MLP of one expert's shape and its mixing coefficient Linear(d, 2)
    // (torch's default init U(±1/√fan_in)); drawn last, so other blocks keep their weights.
    if (block.residualMlp) {
      const bound = 1 / Math.sqrt(dMax);
      const uniform = (shape: number[]) => tf.tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => (rng.next() * 2 - 1) * bound), shape);
      this.residualMlp = { ffn: expert(`${name}.moe.rmlp`), coef: store.add(`${name}.moe.rmlp.coef`, uniform([dMax, 2])), coefBias: store.add(`${name}.moe.rmlp.coefBias`, uniform([2])) };
    } else this.residualMlp = null;
    this.iterationRouters = Array.from({ length: block.iterations - 1 }, (_, t) =>
      store.add(`${name}.moe.router.it${t + 2}`, normalInit(rng, [rows, S], 1 / Math.sqrt(rows)), router.trainsKernel),
    );
  }

  /** The router kernel of Chain-of-Experts iteration t (0-based; 0 is `router`). */
  routerAt(t: number): tf.Variable {
    return t === 0 ? this.router : this.iterationRouters[t - 1]!;
  }

  /**
   * PR-MoE (Rajbhandari et al., 2022; the block's `expertCounts`): the router columns a subnet with `experts`
   * routed experts uses — the first experts·m FFN columns, then every null / zero / copy / constant column —
   * and the layer its router sees (those columns, the routing shape at that count); null at all experts.
   * Like width slicing, the subnet takes the first experts, so the smallest count's are shared by every count.
   */
  expertView(experts: number | undefined): { cols: number[]; ffn: number; layer: RouterLayer } | null {
    const b = this.block;
    if (experts === undefined || experts === b.experts) return null;
    if (!Number.isInteger(experts) || experts < 1 || experts > b.experts) throw new Error(`${this.name}: ${experts} experts is not between 1 and the allocated ${b.experts}`);
    // State over every column would go stale or mismatch under a column slice (space validation refuses these too).
    if (this.gateMap || this.selectionBias || routerOf(b.routing).update) throw new Error(`${this.name}: expert-count choices cannot be combined with a gating residual, the loss-free selection bias or a router that updates its kernel`);
    const ffn = experts * b.segments;
    const cols = this.columns.map((_, c) => c).filter((c) => c < ffn || c >= this.routedExperts);
    return { cols, ffn, layer: { name: this.name, columns: cols.map((c) => this.columns[c]!), shape: routingShape(atExperts(b, experts)) } };
  }

  /** Rows of the router kernel a subnet of input width d uses. */
  private routerRows(d: number): number {
    return routerOf(this.block.routing).kernelRows?.(this.block.routing, d) ?? d;
  }

  /**
   * Mean FFN experts per token measured in training (`ffnUse`), or null: not measured yet, or a block
   * whose every routed slot is an FFN expert (its k is exact).
   */
  get measuredFfnPerToken(): number | null {
    if (!this.ffnUse) return null;
    const host = hostCopies.get(this.ffnUse.dataId);
    const v = host ? host[0]! : canReadSync() ? this.ffnUse.dataSync()[0]! : -1;
    return v < 0 ? null : v;
  }

  /** Number of routable slots (router columns). */
  get slots(): number {
    return this.columns.length;
  }

  /** The k a token-choice router uses now (after segmentation). */
  activeK(opts: MoEForwardOptions): number {
    return routerOf(this.block.routing).activeK(this.block.routing, this.routerLayer, opts) ?? NaN;
  }

  /** What the router sees of this layer. */
  get routerLayer(): RouterLayer {
    return { name: this.name, columns: this.columns, shape: this.routingShape };
  }

  /**
   * Whether moeFfn computes exactly this block at input width d and expert hidden h: plain top-k over
   * ReLU FFN experts only, one segment, d and h multiples of 4 (the fused kernels' vec4 loads).
   */
  fusedEligible(d: number, hidden: number): boolean {
    const b = this.block;
    const noSpecial = b.sharedExperts + b.nullExperts + b.zeroExperts + b.copyExperts + b.constantExperts === 0 && !b.residualMlp;
    // The fused kernels compute softmax(x·W) themselves: router jitter, z-loss and gating residuals need the
    // logits, so those blocks take the unfused path.
    const plainRouter = b.routerJitter === 0 && b.zLossWeight === 0 && !b.gatingResidual && !this.selectionBias;
    return routerOf(b.routing).fusable && b.iterations === 1 && !b.momentum && !this.weakRanks && b.activation === 'relu' && noSpecial && plainRouter && b.segments === 1 && d % 4 === 0 && hidden % 4 === 0;
  }

  private ffn(e: ExpertWeights, x: tf.Tensor2D, d: number, h: number, bits?: number): tf.Tensor2D {
    const act = this.block.activation;
    if (bits !== undefined) {
      const hidden = activate(tf.add(tf.matMul(x, fakeQuantKernel(e.w1.slice([0, 0], [d, h]), bits)), e.b1.slice(0, h)), act);
      return tf.add(tf.matMul(hidden, fakeQuantKernel(e.w2.slice([0, 0], [h, d]), bits)), e.b2.slice(0, d)) as tf.Tensor2D;
    }
    // WebGPU: each product as one fused kernel reading the variables in place (core/nn/webgpu/denseFused.ts).
    if (denseFusedSupported(act) && denseFusedSupported('linear')) {
      const hidden = denseFused(x, e.w1 as tf.Tensor2D, e.b1 as tf.Tensor1D, h, act);
      return denseFused(hidden, e.w2 as tf.Tensor2D, e.b2 as tf.Tensor1D, d, 'linear');
    }
    const hidden = activate(tf.add(tf.matMul(x, e.w1.slice([0, 0], [d, h])), e.b1.slice(0, h)), act);
    return tf.add(tf.matMul(hidden, e.w2.slice([0, 0], [h, d])), e.b2.slice(0, d)) as tf.Tensor2D;
  }

  /**
   * Route x [T, d] (d ≤ dMax) with expert hidden width `hidden`; returns y [T, d] and the layer report.
   * Chain-of-Experts (`iterations` C > 1, Wang et al., 2025): C passes over the same experts, pass t routed
   * by its own kernel (`routerAt`), x(t) = x(t−1) + MoE_t(x(t−1)), y = x(C) (x(C) − x without the block's
   * residual). `reports` has one report per pass (passes after the first named "<layer>.it<t>", so each
   * gets its own heatmap); `report` is the first, and carries every pass's losses.
   */
  apply(x: tf.Tensor2D, hidden: number, opts: MoEForwardOptions, ctx?: MoEForwardContext): { y: tf.Tensor2D; report: MoELayerOutput; reports: MoELayerOutput[] } {
    const C = this.block.iterations;
    const mom = this.block.momentum && (this.momentumActive ? this.block.momentum : { mu: 0, gamma: this.block.momentum.gamma });
    if (C === 1 && !mom) {
      const once = this.applyOnce(x, hidden, opts, ctx, this.router, this.block.residual);
      return { ...once, reports: [once.report] };
    }
    // f: the layer's update (one pass without its residual, or the Chain-of-Experts passes' sum x(C) − x).
    let f: tf.Tensor2D;
    const reports: MoELayerOutput[] = [];
    if (C === 1) {
      const once = this.applyOnce(x, hidden, opts, ctx, this.router, false);
      f = once.y;
      reports.push(once.report);
    } else {
      let h = x;
      for (let t = 0; t < C; t++) {
        const { y, report } = this.applyOnce(h, hidden, opts, ctx, this.routerAt(t), true);
        if (t > 0) report.layer = `${this.name}.it${t + 1}`;
        reports.push(report);
        h = y;
      }
      const first = reports[0]!;
      first.losses = reports.flatMap((r) => r.losses ?? []);
      for (const r of reports.slice(1)) delete r.losses;
      f = tf.sub(h, x) as tf.Tensor2D;
    }
    // MomentumSMoE: y = x − p, p = μ·p_prev + γ·f carried across the MoE layers (./momentum.ts).
    const update = mom ? (tf.neg(momentumStep(ctx?.state ?? new Map(), f, mom)) as tf.Tensor2D) : f;
    return { y: this.block.residual ? (tf.add(x, update) as tf.Tensor2D) : update, report: reports[0]!, reports };
  }

  /** One routed pass with router kernel `kernel`: y = (residual ? x : 0) + Σ gates · experts(x). */
  private applyOnce(x: tf.Tensor2D, hidden: number, opts: MoEForwardOptions, ctx: MoEForwardContext | undefined, kernel: tf.Variable, residual: boolean): { y: tf.Tensor2D; report: MoELayerOutput } {
    const [T, d] = x.shape;
    const S = this.slots;
    const E = this.routedExperts;
    const block = this.block;
    const routing = block.routing;
    const hSeg = hidden / block.segments;
    if (!Number.isInteger(hSeg) || hSeg < 1) throw new Error(`${this.name}: expert hidden ${hidden} is not divisible by segments ${block.segments}`);
    if (d > this.dMax) throw new Error(`${this.name}: input width ${d} exceeds the allocated ${this.dMax}`);
    // The fused kernels read the float variables: a `bits` choice takes the per-expert path; so does a PR-MoE
    // subnet with fewer experts (the kernels read every expert).
    const view = this.expertView(opts.experts);
    if (opts.bits === undefined && !view && (this.dispatch === 'fused' || (this.dispatch === 'auto' && tf.getBackend() === 'webgpu' && this.fusedEligible(d, hSeg)))) {
      if (!this.fusedEligible(d, hSeg)) throw new Error(`${this.name}: the fused MoE route needs top-k routing, ReLU experts, no shared or special experts, one segment, no router jitter, z-loss or gating residual, and d, hidden divisible by 4`);
      return this.applyFused(x, hSeg, opts, ctx);
    }

    // 1–3. The registered router: logits, choice, capacity, gates and losses (core/nn/routers/router.ts); a
    // PR-MoE subnet routes over its columns only, then its [T, S'] tensors are padded back to all S columns
    // (zeros for the experts it does not have), so the experts and the report below read every slot.
    const routedView = route(
      routerOf(routing),
      routing,
      view ? view.layer : this.routerLayer,
      {
        x,
        kernel: view ? columnsOf(kernel, view.cols, E) : kernel,
        params: this.routerParams,
        selectionBias: this.selectionBias,
        selectionBiasRate: describeRouting(routing).selectionBiasRate?.(routing) ?? 0,
        gateMap: this.gateMap,
        jitter: block.routerJitter,
        jitterSeed: block.routerJitter > 0 ? this.jitterSeed++ : 0,
        capacityFactor: block.capacityFactor,
        capacityPriority: block.capacityPriority,
        balanceTau: block.balanceTau,
        ranks: this.weakRanks,
      },
      block,
      opts,
      ctx,
    );
    const routed = view ? padRoute(routedView, view.ffn, E) : routedView;
    const { probs, masks, gates } = routed;
    const pre = routed.chosen;
    const mask = routed.kept;
    // FFN experts this subnet has (PR-MoE): the others get no token and never run.
    const Eact = view ? view.ffn : E;

    // 4. Experts.
    let y: tf.Tensor2D = tf.zeros([T, d]);
    this.lastFfnTokens = new Array<number>(E + this.shared.length).fill(0);
    if (this.dispatch === 'sparse' || (this.dispatch === 'auto' && canReadSync())) {
      // Sparse: each FFN expert runs on exactly its tokens (one-hot dispatch D [n, T], combine Dᵀ).
      // One read of [pre | kept] ([T, 2S]): kept dispatches, pre measures routing before capacity drops.
      const m = masks.dataSync();
      let chosenFfn = 0;
      for (let c = 0; c < Eact; c++) {
        const idx: number[] = [];
        for (let t = 0; t < T; t++) {
          if (m[t * 2 * S + S + c]) idx.push(t);
          chosenFfn += m[t * 2 * S + c]!;
        }
        if (idx.length === 0) continue;
        const dispatch = new Float32Array(idx.length * T);
        idx.forEach((t, j) => (dispatch[j * T + t] = 1));
        const D = tf.tensor2d(dispatch, [idx.length, T]);
        const out = this.ffn(this.experts[c]!, tf.matMul(D, x), d, hSeg, opts.bits);
        const g = tf.matMul(D, gates.slice([0, c], [T, 1]));
        y = tf.add(y, tf.matMul(D, tf.mul(out, g), true, false));
        this.ffnCalls++;
        this.lastFfnTokens[c] = idx.length;
      }
      if (opts.training && T > 0 && this.ffnUse) {
        // FFN experts a token chose (before capacity drops: inference drops nothing).
        const perToken = chosenFfn / T;
        const prev = this.measuredFfnPerToken;
        const next = prev === null ? perToken : prev + FFN_USE_EMA * (perToken - prev);
        tf.tidy(() => this.ffnUse!.assign(tf.scalar(next)));
      }
    } else {
      // Dense (WebGPU under Node cannot read the mask back synchronously): every FFN expert runs on
      // all tokens and its gate column zeroes the tokens it did not get. Same output, more compute.
      for (let c = 0; c < Eact; c++) {
        y = tf.add(y, tf.mul(gates.slice([0, c], [T, 1]), this.ffn(this.experts[c]!, x, d, hSeg, opts.bits)));
        this.ffnCalls++;
        this.lastFfnTokens[c] = T;
      }
    }
    this.shared.forEach((e, i) => {
      y = tf.add(y, this.ffn(e, x, d, hSeg, opts.bits));
      this.ffnCalls++;
      this.lastFfnTokens[E + i] = T;
    });
    const firstCopy = E + block.nullExperts + block.zeroExperts;
    if (block.copyExperts > 0) {
      const g = tf.sum(gates.slice([0, firstCopy], [T, block.copyExperts]), 1, true);
      y = tf.add(y, tf.mul(g, x));
    }
    if (this.constants && this.constantGate) {
      // MoE++ constant expert c: α₁·x + α₂·v_c with [α₁, α₂] = softmax(W_c x) (Jin et al., 2024).
      const C = block.constantExperts;
      const g = gates.slice([0, firstCopy + block.copyExperts], [T, C]);
      const alpha = tf.softmax(tf.reshape(tf.matMul(x, this.constantGate.slice([0, 0], [d, 2 * C])), [T, C, 2])); // [T, C, 2]
      const a1 = tf.reshape(alpha.slice([0, 0, 0], [T, C, 1]), [T, C]);
      const a2 = tf.reshape(alpha.slice([0, 0, 1], [T, C, 1]), [T, C]);
      y = tf.add(y, tf.mul(tf.sum(tf.mul(g, a1), 1, true), x));
      y = tf.add(y, tf.matMul(tf.mul(g, a2), this.constants.slice([0, 0], [C, d])));
    }
    if (this.residualMlp) {
      // Residual MoE (DeepSpeed-MoE): the MoE output and a dense MLP's, mixed by softmax(x W_c + b_c).
      const rm = this.residualMlp;
      const c = tf.softmax(tf.add(tf.matMul(x, rm.coef.slice([0, 0], [d, 2])), rm.coefBias)) as tf.Tensor2D;
      y = tf.add(tf.mul(c.slice([0, 0], [T, 1]), y), tf.mul(c.slice([0, 1], [T, 1]), this.ffn(rm.ffn, x, d, hSeg)));
      this.ffnCalls++;
    }
    // Null and zero experts add nothing: a token routed there simply uses less compute.
    if (residual) y = tf.add(x, y);

    const report = this.report(probs, pre, mask, routed.balance, routed.entropy, gates);
    // Routers with prototypes (ProMoE) report them with the router input (the specialization view's plane).
    const protos = routerOf(routing).prototypes?.(kernel.slice([0, 0], [d, S]) as tf.Tensor2D, routing);
    if (protos) {
      report.prototypes = protos;
      report.routerInput = x;
    }
    report.losses = routed.losses;
    const z = routed.losses.find((l) => l.name === 'z');
    if (z) report.zLoss = z.value;
    return { y, report };
  }

  /**
   * The block through moeFfn: one stacked FFN over the routed experts. Stacking the per-expert slices
   * (tf.stack) keeps the gradients flowing to each expert's own variables. Capacity follows the other
   * paths: ceil(cf·k·T/E) slots per expert in token order while training with a capacity factor, else
   * T (nothing dropped); gates renormalised over the k chosen experts before drops (Fedus et al., 2021).
   */
  private applyFused(x: tf.Tensor2D, h: number, opts: MoEForwardOptions, ctx: MoEForwardContext | undefined): { y: tf.Tensor2D; report: MoELayerOutput } {
    const [T, d] = x.shape;
    const E = this.routedExperts;
    const k = this.activeK(opts);
    const cf = this.block.capacityFactor;
    // Same arithmetic as the capacity mask of the other paths; an expert never holds more than T tokens.
    const capacity = opts.training && cf !== null ? Math.min(T, Math.ceil(k * ((cf * T) / E))) : T;
    const stack = <R extends tf.Rank>(part: (e: ExpertWeights) => tf.Tensor) => tf.stack(this.experts.map(part)) as tf.Tensor<R>;
    const w1 = stack<tf.Rank.R3>((e) => e.w1.slice([0, 0], [d, h]));
    const b1 = stack<tf.Rank.R2>((e) => e.b1.slice(0, h));
    const w2 = stack<tf.Rank.R3>((e) => e.w2.slice([0, 0], [h, d]));
    const b2 = stack<tf.Rank.R2>((e) => e.b2.slice(0, d));
    const routerW = this.router.slice([0, 0], [d, E]) as tf.Tensor2D;
    const out = moeFfn(x, routerW, w1, b1, w2, b2, { k: Math.min(k, E), capacity, normalize: gateCombination(this.block) === 'renormalize', priority: this.block.capacityPriority });
    // A later layer's gating residual reads these logits (one small matMul; the kernels keep their own).
    if (ctx) ctx.logits = tf.matMul(x, routerW) as tf.Tensor2D;
    // Routing constants (expertIndex, keep) come off the tape already; the masks below carry no gradient.
    const pre = sumOneHots(out.expertIndex, E);
    const mask = sumOneHots(out.expertIndex, E, out.keep);
    this.ffnCalls += E;
    this.lastFfnTokens = new Array<number>(E).fill(NaN);
    const y = this.block.residual ? (tf.add(x, out.y) as tf.Tensor2D) : out.y;
    const balance = balanceLoss(out.probs, pre, this.columns, this.block.balanceTau);
    // The token view's gates at inference (training passes skip the extra ops): the kernel's own arithmetic,
    // probs on the kept experts, renormalised over the chosen ones before drops where the block says so.
    const gates = opts.training
      ? undefined
      : (tf.tidy(() => {
          const g = tf.mul(out.probs, mask);
          return gateCombination(this.block) === 'renormalize' ? tf.div(g, tf.maximum(tf.sum(tf.mul(out.probs, pre), 1, true), 1e-12)) : g;
        }) as tf.Tensor2D);
    const report = this.report(out.probs, pre, mask, balance, null, gates);
    if (this.block.auxLossWeight > 0) report.losses = [{ name: 'balance', weight: this.block.auxLossWeight, value: balance }];
    return { y, report };
  }

  /** The layer report, computed with tensor ops (no read-back). */
  /** `gates` (column order, [T, columns]): what each slot's output was weighted by (the fused path gives them at inference only). */
  private report(probs: tf.Tensor2D, pre: tf.Tensor2D, mask: tf.Tensor2D, auxLoss: tf.Scalar | null, entropyOf: tf.Scalar | null, gates?: tf.Tensor2D): MoELayerOutput {
    const [T, S] = pre.shape;
    const E = this.routedExperts;
    const nShared = this.shared.length;
    // Column order → slot order: shared experts sit between the routed and the special columns.
    const toSlots = (cols: tf.Tensor, sharedValue: number, axisLen: number | null): tf.Tensor => {
      const special = S - E;
      const shape = axisLen === null ? [nShared] : [axisLen, nShared];
      const parts: tf.Tensor[] = [];
      const sliceCols = (begin: number, size: number) => (axisLen === null ? cols.slice(begin, size) : cols.slice([0, begin], [axisLen, size]));
      if (E > 0) parts.push(sliceCols(0, E));
      if (nShared > 0) parts.push(tf.fill(shape, sharedValue));
      if (special > 0) parts.push(sliceCols(E, special));
      return parts.length === 1 ? parts[0]! : tf.concat(parts, axisLen === null ? 0 : 1);
    };

    const colCounts = tf.sum(pre, 0);
    const assignments = tf.sum(colCounts);
    const slotCounts = toSlots(colCounts, T, null);
    const load = tf.div(slotCounts, tf.maximum(tf.sum(slotCounts), 1)) as tf.Tensor1D;

    // The balance loss comes from the router (core/nn/routers/router.ts balanceLoss; none for expert choice).
    const entropy = entropyOf ?? routerEntropy(probs);

    const keptCount = tf.sum(mask);
    const dropped = tf.div(tf.sub(assignments, keptCount), tf.maximum(assignments, 1)) as tf.Scalar;
    const meanActive = tf.div(tf.add(keptCount, nShared * T), T) as tf.Scalar;
    // The slot with the highest kept gate; tokens with none fall back to the router's favourite.
    const col = tf.argMax(tf.mul(probs, tf.add(mask, 1e-6)), 1);
    const topExpert = tf.add(col, tf.mul(tf.greaterEqual(col, E).toInt(), nShared)) as tf.Tensor1D;

    return {
      layer: this.name,
      expertNames: [...this.expertNames],
      load,
      alwaysOn: Array.from({ length: nShared }, (_, i) => E + i),
      dropped,
      entropy,
      auxLoss,
      meanActive,
      topExpert,
      mask: toSlots(mask, 1, T) as tf.Tensor2D,
      // Shared experts are always on with weight 1 (their output is added as is).
      ...(gates ? { gates: toSlots(gates, 1, T) as tf.Tensor2D } : {}),
    };
  }

  /** FFN experts a token uses at most (a static bound; measured use is `meanActive`). */
  activeFfnPerToken(): number {
    return describeRouting(this.block.routing).ffnPerToken(this.block.routing, this.routingShape);
  }

  /** Parameters a subnet with input width d, expert hidden `hidden` and `experts` routed experts (PR-MoE; absent: all) holds in this layer. */
  countParams(d: number, hidden: number, experts?: number): number {
    const { slots, routed } = this.subnetSlots(experts);
    const h = hidden / this.block.segments;
    const ffn = 2 * d * h + h + d;
    const gateMap = this.gateMap ? this.slots * this.slots : 0;
    const router = routerOf(this.block.routing);
    const routerBias = router.lowersWithBias ? slots : 0;
    // The residual MLP (one expert's FFN) and its coefficient Linear(d, 2) count with the router's own.
    const own = (router.paramCount?.(this.block.routing, d, this.routerParams) ?? 0) + (this.residualMlp ? ffn + 2 * d + 2 : 0);
    // Chain-of-Experts: one router (and lowered bias) per iteration.
    return this.block.iterations * (this.routerRows(d) * slots + routerBias) + own + (routed + this.shared.length) * ffn + 3 * this.block.constantExperts * d + gateMap;
  }

  /** Router columns and routed FFN experts of a subnet with `experts` routed experts (PR-MoE; absent: all). */
  private subnetSlots(experts: number | undefined): { slots: number; routed: number } {
    const view = this.expertView(experts);
    return view ? { slots: view.cols.length, routed: view.ffn } : { slots: this.slots, routed: this.routedExperts };
  }

  /**
   * 2 × multiply-accumulates per token: the router (and its gating residual), the FFN experts a token
   * runs — the measured mean (`measuredFfnPerToken`) when training has measured one, so tokens routed to
   * null / zero / copy / constant experts cost no FFN and top-p counts its measured k, else the bound
   * `activeFfnPerToken` — the shared experts, and the constant experts' mixing (α projection and mix).
   */
  countFlops(d: number, hidden: number, experts?: number): number {
    const { slots } = this.subnetSlots(experts);
    const h = hidden / this.block.segments;
    const ffn = 2 * (2 * d * h);
    const perToken = describeRouting(this.block.routing).tokenChoice && this.measuredFfnPerToken !== null ? this.measuredFfnPerToken : this.activeFfnPerToken();
    const gateMap = this.gateMap ? 2 * this.slots * this.slots : 0;
    // The residual MLP runs on every token (one FFN) with its 2-way coefficient.
    const own = (routerOf(this.block.routing).flopsPerToken?.(this.block.routing, d) ?? 0) + (this.residualMlp ? ffn + 4 * d : 0);
    // Chain-of-Experts runs the whole layer once per iteration.
    return this.block.iterations * (2 * this.routerRows(d) * slots + own + gateMap + (perToken + this.shared.length) * ffn + 6 * this.block.constantExperts * d);
  }

  /**
   * This layer as subnet-graph ops (core/nn/graph/ops.ts MoEOp, inside a residual op where the block has
   * one), weights sliced to input width d, expert hidden and, PR-MoE, `experts` routed experts. Slots in
   * router-column order: FFN experts, then null / zero (both contribute nothing) / copy / constant.
   */
  lower(d: number, hidden: number, experts?: number): SubnetOp[] {
    const view = this.expertView(experts);
    const h = hidden / this.block.segments;
    const act = this.block.activation;
    // A PR-MoE subnet's router columns (all of them at all experts) and its first `ffn` routed experts.
    const cols = view ? view.cols : this.columns.map((_, c) => c);
    const nFfn = view ? view.ffn : this.routedExperts;
    const pick = (w: WeightArray) => (view ? pickColumns(w, cols) : w);
    const names = view ? this.expertNames.filter((_, i) => i < nFfn || i >= this.routedExperts) : this.expertNames;
    const ffn = (e: ExpertWeights): Ffn => ffnOf(weightArray(e.w1, [0, 0], [d, h]), weightArray(e.b1, [0], [h]), weightArray(e.w2, [0, 0], [h, d]), weightArray(e.b2, [0], [d]), act);
    const lowerKernel = (kernel: tf.Variable) =>
      routerOf(this.block.routing).lower(this.block.routing, view ? view.layer : this.routerLayer, pick(weightArray(kernel, [0, 0], [this.routerRows(d), this.slots])), {
        params: this.routerParams,
        d,
        slice: weightArray,
      });
    const lowered = lowerKernel(this.router);
    const C = this.block.constantExperts;
    const constants = this.constants ? weightArray(this.constants, [0, 0], [C, d]).data : null;
    const constantGate = this.constantGate ? weightArray(this.constantGate, [0, 0], [d, 2 * C]).data : null;
    let ffnIndex = 0;
    let constIndex = 0;
    const slots = cols.map((c, j): MoESlot => {
      // The slot's name: shared experts sit between the routed experts and the special slots in expertNames.
      const name = names[j < nFfn ? j : j + this.shared.length] ?? `slot${j}`;
      switch (this.columns[c]!) {
        case 'ffn':
          return { kind: 'expert', name, ffn: ffn(this.experts[ffnIndex++]!) };
        case 'null':
        case 'zero':
          return { kind: 'null', name };
        case 'copy':
          return { kind: 'copy', name };
        case 'constant': {
          const row = constIndex++;
          const value = constants!.slice(row * d, (row + 1) * d);
          if (!constantGate) return { kind: 'constant', name, value };
          // Columns 2·row, 2·row + 1 of the [d, 2C] mixing projections (MoE++ [α₁, α₂]).
          const kernel = new Float32Array(d * 2);
          for (let i = 0; i < d; i++) for (let k = 0; k < 2; k++) kernel[i * 2 + k] = constantGate[i * 2 * C + 2 * row + k]!;
          return { kind: 'constant', name, value, gate: { kernel, bias: null, inDim: d, outDim: 2 } };
        }
      }
    });
    const rec = lowered.recurrent;
    const gating = lowered.gating;
    const op: MoEOp = {
      op: 'moe',
      name: this.name,
      dim: d,
      router: denseOf(lowered.router.kernel, lowered.router.bias),
      slots,
      shared: this.shared.map(ffn),
      // The loss-free selection bias ranks the exported top-k too (core/nn/routers/lossFreeBias.ts).
      gating: this.selectionBias && gating.mode === 'topk' ? { ...gating, bias: cols.map((c) => weightArray(this.selectionBias!, [0], [this.slots]).data[c]!) } : gating,
      normalize: gateCombination(this.block) === 'renormalize',
      gateResidual: this.gateMap ? denseOf(weightArray(this.gateMap, [0, 0], [this.slots, this.slots]), null) : null,
      recurrent: rec ? { chain: rec.chain, proj: denseOf(rec.proj, null), gru: rec.gru ? { input: denseOf(rec.gru.wx, rec.gru.bx), hidden: denseOf(rec.gru.wh, rec.gru.bh) } : null } : null,
      iterations: this.iterationRouters.length > 0 ? this.iterationRouters.map((k) => { const r = lowerKernel(k).router; return denseOf(r.kernel, r.bias); }) : null,
      momentum: this.block.momentum ? { ...this.block.momentum } : null,
      similarity: lowered.similarity ? { ws: denseOf(lowered.similarity.ws, null), temperature: lowered.similarity.temperature } : null,
      ...(lowered.prototype ? { prototype: true } : {}),
      ...(this.residualMlp ? { residualMlp: { mlp: ffn(this.residualMlp.ffn), coef: denseOf(weightArray(this.residualMlp.coef, [0, 0], [d, 2]), weightArray(this.residualMlp.coefBias, [0], [2])) } } : {}),
    };
    return this.block.residual ? [{ op: 'residual', name: `${this.name}.residual`, body: [op] }] : [op];
  }
}

/**
 * Host copies of variable values, keyed by the tensor data they were read from (an `assign` gives a
 * variable new data, so a stale copy is never used). WebGPU under Node cannot read synchronously:
 * `readVariablesForSlicing` fills this asynchronously before sync code such as `subnetGraph` runs.
 */
const hostCopies = new WeakMap<object, Float32Array>();

export async function readVariablesForSlicing(vars: Iterable<tf.Tensor>): Promise<void> {
  if (canReadSync()) return;
  for (const v of vars) {
    if (!hostCopies.has(v.dataId)) hostCopies.set(v.dataId, (await v.data()) as Float32Array);
  }
}

/** Row-major N-d slice of a host array. */
export function sliceHost(data: Float32Array, shape: readonly number[], begin: readonly number[], size: readonly number[]): Float32Array {
  const out = new Float32Array(size.reduce((a, b) => a * b, 1));
  const strides = shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
  const idx = new Array<number>(size.length).fill(0);
  for (let o = 0; o < out.length; o++) {
    let src = 0;
    for (let d = 0; d < size.length; d++) src += (begin[d]! + idx[d]!) * strides[d]!;
    out[o] = data[src]!;
    for (let d = size.length - 1; d >= 0; d--) {
      if (++idx[d]! < size[d]!) break;
      idx[d] = 0;
    }
  }
  return out;
}

/** A slice of a variable, read back as a plain array. */
export function weightArray(v: tf.Tensor, begin: number[], size: number[]): WeightArray {
  const host = hostCopies.get(v.dataId);
  if (host) return { data: sliceHost(host, v.shape, begin, size), shape: [...size] };
  const t = v.slice(begin, size);
  const data = t.dataSync() as Float32Array;
  t.dispose();
  return { data: Float32Array.from(data), shape: [...size] };
}

/** PR-MoE: the router kernel's columns `cols` ([rows, S] → [rows, S']) by slices, so gradients reach the variable. */
function columnsOf(kernel: tf.Tensor, cols: readonly number[], ffnColumns: number): tf.Tensor2D {
  const [rows, S] = kernel.shape as [number, number];
  const ffn = cols.filter((c) => c < ffnColumns).length;
  const parts = [kernel.slice([0, 0], [rows, ffn])];
  if (S > ffnColumns) parts.push(kernel.slice([0, ffnColumns], [rows, S - ffnColumns]));
  return (parts.length === 1 ? parts[0]! : tf.concat(parts, 1)) as tf.Tensor2D;
}

/** PR-MoE: a subnet's [T, S'] routing tensors padded to the layer's S columns (zeros for its missing experts). */
function padRoute<R extends { probs: tf.Tensor2D; chosen: tf.Tensor2D; kept: tf.Tensor2D; gates: tf.Tensor2D; masks: tf.Tensor2D }>(r: R, ffn: number, ffnColumns: number): R {
  const pad = (t: tf.Tensor2D): tf.Tensor2D => {
    const [T, S1] = t.shape;
    const parts = [t.slice([0, 0], [T, ffn]), tf.zeros([T, ffnColumns - ffn])];
    if (S1 > ffn) parts.push(t.slice([0, ffn], [T, S1 - ffn]));
    return tf.concat(parts, 1) as tf.Tensor2D;
  };
  const chosen = pad(r.chosen);
  const kept = pad(r.kept);
  return { ...r, probs: pad(r.probs), chosen, kept, gates: pad(r.gates), masks: tf.concat([chosen, kept], 1) as tf.Tensor2D };
}

/** Columns `cols` of a row-major [R, S] host array. */
function pickColumns(w: WeightArray, cols: readonly number[]): WeightArray {
  const [R, S] = w.shape as [number, number];
  const n = cols.length;
  const data = new Float32Array(R * n);
  for (let r = 0; r < R; r++) for (let j = 0; j < n; j++) data[r * n + j] = w.data[r * S + cols[j]!]!;
  return { data, shape: [R, n] };
}
