/**
 * Every elastic block, by block type: the one place a block's tf implementation is registered. The type
 * ties it to the descriptors of core/space/blocks/registry.ts (schema, layouts, choice dimensions): a type
 * with a descriptor and no block, or the reverse, does not compile. The contract is ./block.ts.
 */
import type { Block, BlockOf, BlockType } from '../../space/blocks/registry.js';
import type { ElasticBlock } from './block.js';
import { conv } from './conv.js';
import { dense } from './dense.js';
import { patchEmbedding, tokenEmbedding } from './embedding.js';
import { moe } from './moe.js';
import { transformer } from './transformer.js';

export const elasticBlocks: { [T in BlockType]: ElasticBlock<BlockOf<T>> } = {
  dense,
  conv,
  moe,
  tokenEmbedding,
  patchEmbedding,
  transformer,
};

/** The elastic block of a block document (typed on the union: each block accepts its own type's document). */
export function elasticBlockOf(b: Block): ElasticBlock<Block> {
  return elasticBlocks[b.type] as unknown as ElasticBlock<Block>;
}
