/**
 * The search-space document: a stack of stages, each repeating one block up to its largest depth.
 *
 * Elastic dimensions follow Once-for-All (Cai et al., 2020): a subnet keeps the first `depth` blocks of
 * a stage, the first `width` units of a layer and the centre `kernel × kernel` of a conv filter, so
 * every subnet's weights are slices of the supernet's.
 *
 * MoE blocks cover the routers and expert kinds the issues ask for:
 * - top-k softmax with capacity and the Switch/GShard balance loss (Fedus et al., 2021);
 * - DeepSeekMoE shared experts and fine-grained segmentation (Dai et al., 2024);
 * - AdaMoE null experts (Zeng et al., 2024) and MoE++ zero / copy / constant experts (Jin et al., 2024);
 * - top-p dynamic routing (Huang et al., 2024), expert choice (Zhou et al., 2022),
 *   SMoE-Dropout with a fixed random router and k growing over training (Chen et al., 2023), MixER's
 *   nearest-centroid top-1 with k-means centroids (2025);
 * - router options: raw or renormalised gates (each mode's paper default), GShard rank / token capacity
 *   priority, ST-MoE z-loss, Switch jitter, MoE++ gating residuals and τ-weighted balance loss.
 */
import { z } from 'zod';
import { Routing } from './routing/registry.js';

const positiveInt = z.number().int().min(1);
/** A list of choices: at least one, all distinct, ascending order is not required. */
const choices = (item: z.ZodNumber) =>
  z
    .array(item)
    .min(1, 'give at least one choice')
    .refine((xs) => new Set(xs).size === xs.length, 'choices must be distinct');

export const Activation = z.enum(['relu', 'gelu', 'tanh', 'sigmoid', 'linear']);
export type Activation = z.infer<typeof Activation>;

export const DenseBlock = z
  .object({
    type: z.literal('dense'),
    /** Output width choices (elastic width). */
    width: choices(positiveInt.max(8192)),
    activation: Activation.default('relu'),
    /** Operation choices: 'dense' applies the layer, 'identity' skips it (needs equal in/out width). */
    ops: z.array(z.enum(['dense', 'identity'])).min(1).default(['dense']),
    residual: z.boolean().default(false),
  })
  .strict();
export type DenseBlock = z.infer<typeof DenseBlock>;

export const ConvBlock = z
  .object({
    type: z.literal('conv'),
    channels: choices(positiveInt.max(2048)),
    /** Odd kernel sizes; a smaller kernel is the centre of the largest (OFA elastic kernel). */
    kernel: choices(positiveInt.max(11).refine((k) => k % 2 === 1, 'kernel sizes must be odd')),
    stride: z.union([z.literal(1), z.literal(2)]).default(1),
    activation: Activation.default('relu'),
    batchNorm: z.boolean().default(true),
    ops: z.array(z.enum(['conv', 'identity'])).min(1).default(['conv']),
  })
  .strict();
export type ConvBlock = z.infer<typeof ConvBlock>;

// The routing schema is assembled from the routing modes' descriptors (core/space/routing/registry.ts):
// a new router adds its descriptor there, not a branch here.
export { GateCombination } from './routing/descriptor.js';
export { Routing, ROUTING_MODES, type RoutingMode } from './routing/registry.js';

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
    /** Hidden width choices of each expert's FFN (elastic, OFA-style slicing). */
    expertHidden: choices(positiveInt.max(16384)),
    activation: Activation.default('gelu'),
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
  })
  .strict();
export type MoEBlock = z.infer<typeof MoEBlock>;

export const Block = z.discriminatedUnion('type', [DenseBlock, ConvBlock, MoEBlock]);
export type Block = z.infer<typeof Block>;

export const Stage = z
  .object({
    id: z
      .string()
      .min(1)
      .max(64)
      .regex(/^[A-Za-z_][\w-]*$/, 'ids start with a letter or _ and hold letters, digits, _ or -'),
    /** Elastic depth: how many copies of the block this stage keeps. */
    depth: choices(positiveInt.max(32)),
    block: Block,
  })
  .strict();
export type Stage = z.infer<typeof Stage>;

export const InputSpec = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('vector'), dim: positiveInt.max(1 << 20) }).strict(),
  z
    .object({
      kind: z.literal('image'),
      height: positiveInt.max(1024),
      width: positiveInt.max(1024),
      channels: positiveInt.max(16),
    })
    .strict(),
]);
export type InputSpec = z.infer<typeof InputSpec>;

export const SearchSpace = z
  .object({
    version: z.literal(1).default(1),
    name: z.string().min(1).max(120),
    description: z.string().max(2000).optional(),
    input: InputSpec,
    numClasses: z.number().int().min(2).max(100000),
    stages: z.array(Stage).min(1, 'a search space needs at least one stage'),
  })
  .strict();
/** A validated search space (defaults filled in). */
export type SearchSpace = z.infer<typeof SearchSpace>;
/** A search space as written by a user (defaults may be missing). */
export type SearchSpaceInput = z.input<typeof SearchSpace>;

/** The concrete choice for one block of a subnet. Fields that do not apply to the block type are absent. */
export const BlockChoice = z
  .object({
    op: z.string().optional(),
    width: positiveInt.optional(),
    channels: positiveInt.optional(),
    kernel: positiveInt.optional(),
    expertHidden: positiveInt.optional(),
  })
  .strict();
export type BlockChoice = z.infer<typeof BlockChoice>;

/** A subnet: per stage, its depth and one choice per kept block. */
export const Arch = z
  .object({
    stages: z.array(
      z
        .object({
          depth: positiveInt,
          blocks: z.array(BlockChoice),
        })
        .strict(),
    ),
  })
  .strict();
export type Arch = z.infer<typeof Arch>;
