/**
 * Every block type's descriptor, by type: the one place a block type is registered on the space floor.
 * The SearchSpace's `Block` schema is the union of their schemas; planSpace and the arch codec read their
 * layouts, choice dimensions and output widths from here. Each type's tf implementation is the ElasticBlock
 * of the same name in core/nn/blocks/registry.ts (its `Record<BlockType, ElasticBlock>` type makes a missing
 * one a type error). Adding a block: its descriptor file, its schema in the union and a line in the record.
 */
import { z } from 'zod';
import { conv, ConvBlock } from './conv.js';
import { dense, DenseBlock } from './dense.js';
import type { BlockDescriptor } from './descriptor.js';
import { patchEmbedding, PatchEmbeddingBlock, tokenEmbedding, TokenEmbeddingBlock } from './embedding.js';
import { moe, MoEBlock } from './moe.js';
import { transformer, TransformerBlock } from './transformer.js';

export const Block = z.discriminatedUnion('type', [DenseBlock, ConvBlock, MoEBlock, TokenEmbeddingBlock, PatchEmbeddingBlock, TransformerBlock]);
export type Block = z.infer<typeof Block>;
export type BlockType = Block['type'];
export type BlockOf<T extends BlockType> = Extract<Block, { type: T }>;

export const blockDescriptors: { [T in BlockType]: BlockDescriptor<BlockOf<T>> } = {
  dense,
  conv,
  moe,
  tokenEmbedding,
  patchEmbedding,
  transformer,
};

export const BLOCK_TYPES = Object.keys(blockDescriptors) as BlockType[];

/** The descriptor of a block (typed on the union: each descriptor accepts its own type's block). */
export function describeBlock(b: Block): BlockDescriptor<Block> {
  return blockDescriptors[b.type] as unknown as BlockDescriptor<Block>;
}
