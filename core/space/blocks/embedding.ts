/**
 * The blocks that start a transformer: a token embedding (ids → d, GPT-2's token + learned position
 * tables) and a patch embedding (ViT, Dosovitskiy et al., 2021: a linear map of each patch + learned
 * positions). Their width choice is the model's embedding dim d (HAT / AutoFormer elastic embed dim), which
 * every transformer block after them keeps. `positions` is the longest sequence the model reads (GPT's
 * block_size; ViT's patch count): the position table has that many rows and a subnet reads the first T.
 * The tf half is core/nn/blocks/embedding.ts.
 */
import { z } from 'zod';
import { choices, positiveInt, type BlockCheckContext, type BlockDescriptor, type BlockIssue } from './descriptor.js';

const list = (xs: readonly (number | string)[]) => xs.join(', ');

export const TokenEmbeddingBlock = z
  .object({
    type: z.literal('tokenEmbedding'),
    /** Embedding width choices. */
    width: choices(positiveInt.max(4096)),
    positions: positiveInt.max(8192),
  })
  .strict();
export type TokenEmbeddingBlock = z.infer<typeof TokenEmbeddingBlock>;

export const PatchEmbeddingBlock = z
  .object({
    type: z.literal('patchEmbedding'),
    width: choices(positiveInt.max(4096)),
    positions: positiveInt.max(8192),
  })
  .strict();
export type PatchEmbeddingBlock = z.infer<typeof PatchEmbeddingBlock>;

function positionIssues(b: { positions: number }, ctx: BlockCheckContext): BlockIssue[] {
  return ctx.inLength > b.positions ? [{ field: 'positions', message: `the input has ${ctx.inLength} tokens but the embedding only ${b.positions} positions` }] : [];
}

export const tokenEmbedding: BlockDescriptor<TokenEmbeddingBlock> = {
  type: 'tokenEmbedding',
  label: 'token embedding',
  schema: TokenEmbeddingBlock,
  initial: { type: 'tokenEmbedding', width: [32, 64], positions: 64 },
  summary: (b) => `token embedding · width ${(b.width ?? []).join('/')}`,
  // Token ids in, a sequence of width-d vectors out; a token input's width is its vocabulary (planSpace).
  reads: ['tokens'],
  mainOp: 'tokenEmbedding',
  dims: (b) => [{ key: 'width', values: b.width }],
  outWidths: (b) => new Set(b.width),
  outShape: (_b, c, input) => ({ layout: 'sequence', width: c.width!, spatial: [1, 1], length: input.length }),
  // A table lookup and one add per element: no multiply-adds.
  nominalFlops: () => 0,
  choiceText: (b) => [`width ${list(b.width)}`, `${b.positions} positions`],
  pickText: (_b, c) => `${c.width}`,
  activationTerms: (_b, c, input, ctx) => [
    // The gathered rows and the position add.
    { path: `${ctx.at}.width`, what: `${ctx.where} token embedding (width ${c.width})`, elements: 2 * ctx.batch * input.length * c.width! },
  ],
  // An upper bound where the width exceeds the vocabulary: supernetParams passes max(stage input, block output).
  maxParams: (b, vocab) => (vocab + b.positions) * Math.max(...b.width),
  validate: positionIssues,
};

export const patchEmbedding: BlockDescriptor<PatchEmbeddingBlock> = {
  type: 'patchEmbedding',
  label: 'patch embedding',
  schema: PatchEmbeddingBlock,
  initial: { type: 'patchEmbedding', width: [32, 64], positions: 16 },
  summary: (b) => `patch embedding · width ${(b.width ?? []).join('/')}`,
  reads: ['sequence'],
  mainOp: 'patchEmbedding',
  dims: (b) => [{ key: 'width', values: b.width }],
  outWidths: (b) => new Set(b.width),
  outShape: (_b, c, input) => ({ ...input, width: c.width! }),
  nominalFlops: (_b, c, input) => 2 * input.length * input.width * c.width!,
  choiceText: (b) => [`width ${list(b.width)}`, `${b.positions} positions`],
  pickText: (_b, c) => `${c.width}`,
  activationTerms: (_b, c, input, ctx) => [
    // Projection, bias and the position add.
    { path: `${ctx.at}.width`, what: `${ctx.where} patch embedding (width ${c.width})`, elements: 3 * ctx.batch * input.length * c.width! },
  ],
  maxParams: (b, patchDim) => (patchDim + 1 + b.positions) * Math.max(...b.width),
  validate: positionIssues,
};
