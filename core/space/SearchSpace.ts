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
import { Block } from './blocks/registry.js';
import { choices, positiveInt } from './blocks/descriptor.js';

// Block schemas live with their descriptors (core/space/blocks/<type>.ts), the union in ./blocks/registry.ts:
// a new block type adds its descriptor there, not a branch here.
export { Activation } from './blocks/descriptor.js';
export { DenseBlock } from './blocks/dense.js';
export { ConvBlock } from './blocks/conv.js';
export { MoEBlock, MAX_EXPERTS, MAX_SPECIAL_EXPERTS } from './blocks/moe.js';
export { TokenEmbeddingBlock, PatchEmbeddingBlock } from './blocks/embedding.js';
export { TransformerBlock, TransformerMoE } from './blocks/transformer.js';
export { Block, BLOCK_TYPES, type BlockType } from './blocks/registry.js';

// The routing schema is assembled from the routing modes' descriptors (core/space/routing/registry.ts):
// a new router adds its descriptor there, not a branch here.
export { GateCombination } from './routing/descriptor.js';
export { Routing, ROUTING_MODES, type RoutingMode } from './routing/registry.js';

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
  /**
   * Token ids (text, sequence tasks): `length` tokens out of `vocab`; a token embedding reads them, and the
   * head predicts every position (next-token logits), not one class per sample.
   */
  z.object({ kind: z.literal('tokens'), length: positiveInt.max(8192), vocab: z.number().int().min(2).max(1 << 20) }).strict(),
  /** A sequence of `length` feature vectors of `dim` (image patches, core/data/patches.ts); the head pools the tokens. */
  z.object({ kind: z.literal('sequence'), length: positiveInt.max(8192), dim: positiveInt.max(1 << 16) }).strict(),
]);
export type InputSpec = z.infer<typeof InputSpec>;

/** Shape of one input sample: [dim], [height, width, channels] (NHWC), [length] token ids or [length, dim]. */
export function inputSampleShape(input: InputSpec): number[] {
  switch (input.kind) {
    case 'vector':
      return [input.dim];
    case 'image':
      return [input.height, input.width, input.channels];
    case 'tokens':
      return [input.length];
    case 'sequence':
      return [input.length, input.dim];
  }
}

/** The input for people: "vector of 784", "image 28×28×1 (NHWC)", "64 tokens of a 128-token vocabulary", "16 tokens of 49 features". */
export function describeInput(input: InputSpec): string {
  switch (input.kind) {
    case 'vector':
      return `vector of ${input.dim}`;
    case 'image':
      return `image ${input.height}×${input.width}×${input.channels} (NHWC)`;
    case 'tokens':
      return `${input.length} tokens of a ${input.vocab}-token vocabulary`;
    case 'sequence':
      return `${input.length} tokens of ${input.dim} features`;
  }
}

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
    /** Weight bits of the block's kernels (its `bits` choice, 2–8 or 32; absent: float). */
    bits: positiveInt.optional(),
    /** Routed experts of an MoE block (its PR-MoE `expertCounts` choice; absent: all). */
    experts: positiveInt.optional(),
    heads: positiveInt.optional(),
    mlpRatio: z.number().gt(0).optional(),
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
