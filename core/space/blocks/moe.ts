/**
 * MoE block: routed FFN experts over the tokens (rows of a vector batch, or every token of a sequence),
 * with the routers and expert kinds of core/space/SearchSpace.ts's header; keeps its input width.
 */
import { z } from 'zod';
import type { RoutingShape } from '../routing/descriptor.js';
import { describeRouting, Routing, routingDescriptors } from '../routing/registry.js';
import { Activation, activationTensors, bitsDims, choices, positiveInt, WeightBits, type BlockDescriptor, type BlockIssue, type ChoiceDim } from './descriptor.js';

/** Routed or shared FFN experts per MoE block. */
export const MAX_EXPERTS = 256;
/**
 * Null / zero / copy / constant experts per kind: they cost no FFN but each is a router column, so every
 * routing tensor grows with them (a million null experts is a [batch, 10⁶] tensor a dozen times over).
 */
export const MAX_SPECIAL_EXPERTS = 1024;
const expertCount = (max: number, what: string) => z.number().int().min(0).max(max, `at most ${max} ${what}`).default(0);

export const MoEBlock = z
  .object({
    type: z.literal('moe'),
    /** Routed experts before fine-grained segmentation. */
    experts: positiveInt.max(MAX_EXPERTS, `at most ${MAX_EXPERTS} routed experts`),
    /**
     * DeepSpeed-MoE PR-MoE (Rajbhandari et al., 2022, §4.1.2, "Pyramid-Residual MoE"): routed-expert count
     * choices of this block (each ≤ `experts`, which the supernet allocates). A subnet with E' experts uses the
     * first E' experts and the router's first E' expert columns (softmax over those E' only), as width slicing
     * takes the first units; the search picks a count per layer, so the paper's pyramid (more experts in later
     * layers) is one of its subnets. Deviation: the paper fixes the pyramid by hand and trains it alone; here
     * the counts are elastic in one weight-sharing supernet. Absent: `experts`, no choice.
     */
    expertCounts: choices(positiveInt.max(MAX_EXPERTS)).optional(),
    /** Hidden width choices of each expert's FFN (elastic, OFA-style slicing). */
    expertHidden: choices(positiveInt.max(16384)),
    activation: Activation.default('gelu'),
    /** Weight bit width choices of the FFN experts, routed and shared (descriptor.ts WeightBits); the router stays float. Absent: float. */
    bits: WeightBits.optional(),
    routing: Routing.default({ mode: 'topk', k: 2 }),
    /** Tokens an expert may take = capacityFactor · k · T / E; null means no capacity limit. */
    capacityFactor: z.number().gt(0).nullable().default(null),
    /**
     * Which assignments a full expert drops (token-choice modes with a capacity factor): 'rank' fills every
     * token's first choice before any second choice (GShard, Lepikhin et al., 2021; Switch), 'token' goes
     * in token order with each token's choices together.
     */
    capacityPriority: z.enum(['rank', 'token']).default('rank'),
    /** Weight of the load-balancing auxiliary loss (Switch Transformer form). */
    auxLossWeight: z.number().min(0).default(0.01),
    /** ST-MoE router z-loss weight (Zoph et al., 2022: mean over tokens of logsumexp(logits)², 1e-3 there). */
    zLossWeight: z.number().min(0).default(0),
    /**
     * Switch Transformer router jitter ε: while training, the router input is multiplied by noise drawn
     * uniformly from [1 − ε, 1 + ε] (1e-2 there); 0 turns it off.
     */
    routerJitter: z.number().min(0).lt(1).default(0),
    /**
     * MoE++ heterogeneous balance weight τ (Jin et al., 2024): the balance terms of zero / copy / constant
     * experts are multiplied by τ (FFN experts by 1), so τ < 1 lets more tokens take the cheap experts.
     */
    balanceTau: z.number().min(0).max(1).default(1),
    /**
     * MoE++ gating residuals: this layer's router logits add W_g · (the previous MoE layer's logits), with W_g
     * a learnt [S, S] map (N(0, 0.02²) at initialisation, as the reference code's
     * initialiser leaves it), when the previous MoE layer has as many slots.
     */
    gatingResidual: z.boolean().default(false),
    /** DeepSeekMoE: experts every token passes through, beside the routed ones. */
    sharedExperts: expertCount(MAX_EXPERTS, 'shared experts'),
    /** DeepSeekMoE fine-grained segmentation: split each expert into m experts of hidden/m, k·m active. */
    segments: positiveInt.max(16).default(1),
    /** AdaMoE: experts that do nothing; a token routed there uses less compute. */
    nullExperts: expertCount(MAX_SPECIAL_EXPERTS, 'null experts'),
    /** MoE++: zero experts output 0, copy experts output the input, constant experts output a learnt vector. */
    zeroExperts: expertCount(MAX_SPECIAL_EXPERTS, 'zero experts'),
    copyExperts: expertCount(MAX_SPECIAL_EXPERTS, 'copy experts'),
    constantExperts: expertCount(MAX_SPECIAL_EXPERTS, 'constant experts'),
    residual: z.boolean().default(true),
    /**
     * DeepSpeed-MoE residual MoE (Rajbhandari et al., 2022, §4.1): a fixed dense MLP (one expert's shape) beside
     * the routed experts, y = c₀·MoE(x) + c₁·MLP(x), [c₀, c₁] = softmax(Linear(x)) as deepspeed/moe/layer.py's
     * `use_residual`; the paper pairs it with top-1 routing. Absent: off.
     */
    residualMlp: z.boolean().optional(),
    /**
     * Chain-of-Experts (Wang et al., 2025, arXiv 2506.18945): C sequential iterations inside the layer over
     * the same experts, each with its own router, x(t) = x(t−1) + Σ_i g_t,i E_i(x(t−1)) (inner residual,
     * I_r = 1), y = x(C); 1 is a plain MoE layer (the paper runs C = 2 with k per iteration).
     */
    iterations: positiveInt.max(8, 'at most 8 Chain-of-Experts iterations').default(1),
    /**
     * MomentumSMoE (Teo & Nguyen, 2024): heavy-ball momentum across consecutive MoE layers, p_l = μ·p_{l−1} +
     * γ·MoE(x_l), y = x_l − p_l (the reference's sign; core/nn/moe/momentum.ts), μ and γ per block; the
     * reference's μ = 0.7, γ = 1. Absent: a plain residual MoE layer.
     */
    momentum: z
      .object({
        mu: z.number().min(0).lt(1).default(0.7),
        gamma: z.number().gt(0).default(1),
      })
      .strict()
      .optional(),
  })
  .strict();
export type MoEBlock = z.infer<typeof MoEBlock>;

export const moe: BlockDescriptor<MoEBlock> = {
  type: 'moe',
  label: 'MoE',
  schema: MoEBlock,
  initial: {
    type: 'moe',
    experts: 4,
    expertHidden: [32, 64],
    activation: 'gelu',
    routing: { mode: 'topk', k: 2 },
    capacityFactor: null,
    auxLossWeight: 0.01,
    sharedExperts: 0,
    segments: 1,
    nullExperts: 0,
    zeroExperts: 0,
    copyExperts: 0,
    constantExperts: 0,
    residual: true,
  },
  summary: (b) => {
    const r = b.routing ?? { mode: 'topk', k: 2 };
    const desc = routingDescriptors[r.mode] as (typeof routingDescriptors)['topk'] | undefined;
    const parsed = desc?.schema.safeParse(r);
    const route = parsed?.success ? desc!.summary(parsed.data) : (desc?.label ?? String(r.mode));
    const extra = (b.nullExperts ?? 0) + (b.zeroExperts ?? 0) + (b.copyExperts ?? 0) + (b.constantExperts ?? 0);
    return `moe · ${b.experts} experts${extra ? ` +${extra}` : ''} · ${route}`;
  },
  reads: ['vector', 'sequence'],
  routesTokens: () => true,
  mainOp: 'moe',
  dims: (b) => [{ key: 'expertHidden', values: b.expertHidden, label: 'hidden', short: 'h', elastic: 'width' }, ...expertCountDims(b), ...bitsDims(b.bits)],
  // Each expert is d → hidden → d: the block keeps its input width.
  outWidths: (_b, inW) => new Set(inW),
  outShape: (_b, _c, input) => input,
  // Chain-of-Experts runs the whole layer once per iteration; experts per token are the routing's nominal number.
  nominalFlops: (block, c, input) => {
    const b = atExperts(block, c.experts);
    const d = input.width;
    const h = c.expertHidden! / b.segments;
    const ffn = 2 * (2 * d * h);
    const slots = routableSlots(b);
    const gateMap = b.gatingResidual ? 2 * slots * slots : 0;
    const perToken = describeRouting(b.routing).ffnPerToken(b.routing, routingShape(b));
    const router = describeRouting(b.routing).routerCost?.(b.routing, d, slots).flops ?? 2 * d * slots;
    return input.length * b.iterations * (router + gateMap + (perToken + b.sharedExperts) * ffn + 6 * b.constantExperts * d);
  },
  choiceText: (b) => {
    const extra = [
      b.sharedExperts ? `${b.sharedExperts} shared` : '',
      b.segments > 1 ? `${b.segments} segments` : '',
      b.nullExperts ? `${b.nullExperts} null` : '',
      b.zeroExperts + b.copyExperts + b.constantExperts ? `${b.zeroExperts + b.copyExperts + b.constantExperts} zero/copy/const` : '',
    ].filter(Boolean);
    return [`${b.expertCounts ? `${b.expertCounts.join(', ')} of ` : ''}${b.experts} experts · ${describeRouting(b.routing).summary(b.routing)}`, `hidden ${b.expertHidden.join(', ')}`, ...(b.bits ? [`bits ${b.bits.join(', ')}`] : []), ...extra];
  },
  pickText: (_b, c) => `${c.experts !== undefined ? `e${c.experts}·` : ''}h${c.expertHidden}${c.bits !== undefined && c.bits < 32 ? `·${c.bits}b` : ''}`,
  // core/nn/moe/MoELayer.ts: ROUTING_TENSORS [B, S] tensors over all S router slots (null, zero, copy and
  // constant experts are slots too), the GShard one-hot dispatch matrices (Σ_e n_e × B for the A
  // token-to-FFN-expert assignments), each expert's gathered input, hidden layer and output, the combined
  // output per expert, shared experts on every token.
  activationTerms: (block, c, input, { batch, at, where }) => {
    const b = atExperts(block, c.experts);
    const B = batch * input.length;
    const d = input.width;
    const E = b.experts * b.segments;
    const S = routableSlots(b);
    const h = c.expertHidden! / b.segments;
    const A = ffnAssignments(b, B);
    // Routing tensors grow with every slot kind; name the kind that holds the most slots.
    const slotKinds: [string, number][] = [
      ['experts', E],
      ['nullExperts', b.nullExperts],
      ['zeroExperts', b.zeroExperts],
      ['copyExperts', b.copyExperts],
      ['constantExperts', b.constantExperts],
    ];
    const mostSlots = slotKinds.reduce((a, x) => (x[1] > a[1] ? x : a))[0];
    // Per assignment: gathered input, hidden matMul / bias / activation, output matMul / bias, the gate
    // column, the gated output; per FFN expert: the combined [B, d] output and the running sum.
    const hiddenTensors = 2 + activationTensors(b.activation);
    return [
      { path: `${at}.${mostSlots}`, what: `${where} routing over ${S} slots`, elements: ROUTING_TENSORS * B * S },
      // One-hot dispatch matrices [n_e, B] for the experts' A assignments: quadratic in the batch.
      { path: 'batchSize', what: `${where} dispatch matrices (${A} assignments × ${B} tokens)`, elements: A * B },
      { path: `${at}.expertHidden`, what: `${where} expert FFNs (hidden ${h})`, elements: A * (4 * d + hiddenTensors * h + 1) + E * 2 * B * d },
      ...(b.sharedExperts > 0 ? [{ path: `${at}.sharedExperts`, what: `${where} shared experts`, elements: b.sharedExperts * B * (hiddenTensors * h + 3 * d) }] : []),
      // The zeros y starts from, copy / constant mixing (gate sum, product, add each) and the residual.
      { path: `${at}`, what: `${where} combine`, elements: B * d * (1 + (b.copyExperts > 0 ? 2 : 0) + (b.constantExperts > 0 ? 2 : 0) + (b.residual ? 1 : 0)) },
    ];
  },
  maxParams: (b, d) => {
    const h = Math.max(...b.expertHidden) / b.segments;
    const ffn = 2 * d * h + h + d;
    // A router per Chain-of-Experts iteration.
    const router = describeRouting(b.routing).routerCost?.(b.routing, d, routableSlots(b)).params ?? d * routableSlots(b);
    return b.iterations * router + (b.experts * b.segments + b.sharedExperts) * ffn + b.constantExperts * d;
  },
  validate: (b) => [
    ...b.expertHidden.flatMap((h, j) => (h % b.segments !== 0 ? [{ field: `expertHidden[${j}]`, message: `expert hidden width ${h} is not divisible by segments (${b.segments})` }] : [])),
    ...describeRouting(b.routing).validate(b.routing, routingShape(b)),
    ...expertCountIssues(b),
  ],
};

/** PR-MoE's `experts` choice dimension (the block's `expertCounts`), or none. */
function expertCountDims(b: MoEBlock): ChoiceDim[] {
  return b.expertCounts ? [{ key: 'experts', values: b.expertCounts, label: 'experts', short: 'e' }] : [];
}

/** The block as a subnet with `experts` routed experts (PR-MoE's choice; undefined: all of them). */
export function atExperts(b: MoEBlock, experts: number | undefined): MoEBlock {
  return experts === undefined || experts === b.experts ? b : { ...b, experts };
}

/**
 * PR-MoE's checks: every count at most the allocated experts, the routing valid at the smallest count, and
 * no option whose state spans all router columns (a gating-residual map [S, S], the loss-free selection bias
 * [S], MixER's centroid update writing the whole kernel), which a subnet's column slice would leave stale.
 */
function expertCountIssues(b: MoEBlock): BlockIssue[] {
  if (!b.expertCounts) return [];
  const out: BlockIssue[] = b.expertCounts.flatMap((e, j) => (e > b.experts ? [{ field: `expertCounts[${j}]`, message: `${e} experts exceed the block's experts (${b.experts}), which the supernet allocates` }] : []));
  const smallest = Math.min(...b.expertCounts);
  if (smallest <= b.experts) {
    const at = atExperts(b, smallest);
    out.push(...describeRouting(b.routing).validate(b.routing, routingShape(at)).map((i) => ({ field: i.field, message: `${i.message} (at ${smallest} experts, expertCounts' smallest)` })));
  }
  const why = b.gatingResidual ? 'gatingResidual' : (describeRouting(b.routing).selectionBiasRate?.(b.routing) ?? 0) > 0 ? 'the loss-free selection bias' : b.routing.mode === 'mixer' ? "MixER's centroid update" : null;
  if (why) out.push({ field: 'expertCounts', message: `expert-count choices cannot be combined with ${why}: its state spans every router column` });
  return out;
}

/** Routable slots of an MoE block: fine-grained routed experts plus null / zero / copy / constant ones. */
export function routableSlots(b: MoEBlock): number {
  return b.experts * b.segments + specialExperts(b);
}

/** Experts that run no FFN (AdaMoE null experts; MoE++ zero, copy and constant experts). */
export function specialExperts(b: MoEBlock): number {
  return b.nullExperts + b.zeroExperts + b.copyExperts + b.constantExperts;
}

/** The numbers of a block its routing's arithmetic reads (core/space/routing/descriptor.ts). */
export function routingShape(b: MoEBlock): RoutingShape {
  const slots = routableSlots(b);
  return {
    segments: b.segments,
    ffnExperts: b.experts * b.segments,
    slots,
    capacityFactor: b.capacityFactor,
    slotText: `${slots} routable slots (${b.experts}×${b.segments} routed + ${specialExperts(b)} null/zero/copy/constant)`,
  };
}

/**
 * [B, S] routing tensors of one MoE forward: logits, probabilities, the packed [B, 2S] pre/kept masks
 * (2), their two slices (2), gates, the top-k renormalisation (2), the entropy's add / log / product
 * (3), the report's kept-gate offset and product (2) and its slot-ordered mask (1): 15.
 */
export const ROUTING_TENSORS = 15;

/** FFN assignments per step of an MoE block (tokens × active FFN experts), an upper bound. */
export function ffnAssignments(b: MoEBlock, tokens: number): number {
  // Chain-of-Experts assigns tokens again in each iteration.
  return b.iterations * describeRouting(b.routing).ffnAssignments(b.routing, routingShape(b), tokens);
}
