/**
 * The embedding blocks (core/space/blocks/embedding.ts) on ../transformer/embeddings.ts: token ids
 * [B, T] → [B, T, d] (token + position tables), patches [B, T, patchDim] → [B, T, d] (linear + positions).
 * The width choice d slices the first d columns of every table. Variables "<name>.tokenEmbedding.tokens|positions",
 * "<name>.patchEmbedding.kernel|bias|positions".
 */
import type * as tf from '@tensorflow/tfjs';
import type { BlockChoice, PatchEmbeddingBlock, TokenEmbeddingBlock } from '../../space/SearchSpace.js';
import type { SubnetOp } from '../graph/ops.js';
import { denseOf } from '../graph/weights.js';
import { weightArray } from '../moe/MoELayer.js';
import { PatchEmbedding, TokenEmbedding } from '../transformer/embeddings.js';
import type { ActivationShape, BlockBuild, BlockInstance, ElasticBlock } from './block.js';
import type { Act, CompiledForward, StepCompiler } from '../webgpu/step/compiler.js';
import { compilePatchEmbedding, compileTokenEmbedding } from '../webgpu/step/embeddingStep.js';

function checkWidth(name: string, choice: BlockChoice, widths: readonly number[]): number {
  const w = choice.width;
  if (w === undefined || !widths.includes(w)) throw new Error(`${name}: width ${w} is not one of ${widths.join(', ')}`);
  return w;
}

function checkLength(name: string, T: number, positions: number): void {
  if (T > positions) throw new Error(`${name}: ${T} tokens exceed the block's ${positions} positions`);
}

class TokenEmbeddingInstance implements BlockInstance {
  readonly type = 'tokenEmbedding';
  readonly name: string;
  readonly embedding: TokenEmbedding;
  private readonly block: TokenEmbeddingBlock;

  /** inMax is the vocabulary: a token input's width is its vocabulary size (core/nn/blocks/shapes.ts). */
  constructor({ name, block, inMax, store, rng }: BlockBuild<TokenEmbeddingBlock>) {
    this.name = name;
    this.block = block;
    this.embedding = new TokenEmbedding(`${name}.tokenEmbedding`, inMax, block.positions, Math.max(...block.width), store, rng);
  }

  apply(x: tf.Tensor, choice: BlockChoice): tf.Tensor {
    if (x.rank !== 2) throw new Error(`${this.name}: a token embedding reads ids [batch, tokens], got [${x.shape.join(', ')}]`);
    checkLength(this.name, x.shape[1]!, this.block.positions);
    return this.embedding.apply(x as tf.Tensor2D, checkWidth(this.name, choice, this.block.width));
  }

  /** The compiled step (core/nn/webgpu/step/embeddingStep.ts): ids as the batch's floats. */
  compile(choice: BlockChoice, x: Act, c: StepCompiler): CompiledForward | string {
    const d = checkWidth(this.name, choice, this.block.width);
    const T = x.shape.length;
    checkLength(this.name, T, this.block.positions);
    const e = this.embedding;
    const { y, layer } = compileTokenEmbedding(c, { name: this.name, table: e.table, positions: e.positions, B: c.batch, T, d }, x.buffer);
    return { out: { buffer: y, shape: this.outShape(choice, x.shape) }, layer };
  }

  outShape(choice: BlockChoice, input: ActivationShape): ActivationShape {
    return { layout: 'sequence', width: choice.width!, spatial: [1, 1], length: input.length };
  }

  countParams(choice: BlockChoice, input: ActivationShape): number {
    return TokenEmbedding.params(input.width, input.length, choice.width!);
  }

  /** A table lookup and one add per element: no multiply-accumulates. */
  countFlops(): number {
    return 0;
  }

  /** The first d columns of the token table and the first T rows (T = the input's length) of the position table. */
  lower(choice: BlockChoice, input: ActivationShape): SubnetOp[] {
    const d = checkWidth(this.name, choice, this.block.width);
    const { vocab } = this.embedding;
    const T = input.length;
    checkLength(this.name, T, this.block.positions);
    return [
      {
        op: 'tokenEmbedding',
        name: this.name,
        vocab,
        dim: d,
        length: T,
        table: weightArray(this.embedding.table, [0, 0], [vocab, d]).data,
        positions: weightArray(this.embedding.positions, [0, 0], [T, d]).data,
      },
    ];
  }
}

class PatchEmbeddingInstance implements BlockInstance {
  readonly type = 'patchEmbedding';
  readonly name: string;
  readonly embedding: PatchEmbedding;
  private readonly block: PatchEmbeddingBlock;

  constructor({ name, block, inMax, store, rng }: BlockBuild<PatchEmbeddingBlock>) {
    this.name = name;
    this.block = block;
    this.embedding = new PatchEmbedding(`${name}.patchEmbedding`, block.positions, inMax, Math.max(...block.width), store, rng);
  }

  apply(x: tf.Tensor, choice: BlockChoice): tf.Tensor {
    if (x.rank !== 3) throw new Error(`${this.name}: a patch embedding reads patches [batch, tokens, features], got [${x.shape.join(', ')}]`);
    checkLength(this.name, x.shape[1]!, this.block.positions);
    return this.embedding.apply(x as tf.Tensor3D, checkWidth(this.name, choice, this.block.width));
  }

  /** The compiled step (core/nn/webgpu/step/embeddingStep.ts). */
  compile(choice: BlockChoice, x: Act, c: StepCompiler): CompiledForward | string {
    const d = checkWidth(this.name, choice, this.block.width);
    const T = x.shape.length;
    checkLength(this.name, T, this.block.positions);
    const e = this.embedding;
    if (x.shape.width !== e.patchDim) return `${this.name}: patches have ${x.shape.width} features, the embedding expects ${e.patchDim}`;
    const spec = { name: this.name, kernel: e.kernel, bias: e.bias, positions: e.positions, B: c.batch, T, P: e.patchDim, d };
    const { y, layer } = compilePatchEmbedding(c, spec, x.buffer);
    return { out: { buffer: y, shape: this.outShape(choice, x.shape) }, layer };
  }

  outShape(choice: BlockChoice, input: ActivationShape): ActivationShape {
    return { ...input, width: choice.width! };
  }

  countParams(choice: BlockChoice, input: ActivationShape): number {
    return PatchEmbedding.params(input.length, input.width, choice.width!);
  }

  countFlops(choice: BlockChoice, input: ActivationShape): number {
    return 2 * input.length * input.width * choice.width!;
  }

  /** The projection's first d columns and the first T position rows. */
  lower(choice: BlockChoice, input: ActivationShape): SubnetOp[] {
    const d = checkWidth(this.name, choice, this.block.width);
    const e = this.embedding;
    const T = input.length;
    checkLength(this.name, T, this.block.positions);
    return [
      {
        op: 'patchEmbedding',
        name: this.name,
        weights: denseOf(weightArray(e.kernel, [0, 0], [e.patchDim, d]), weightArray(e.bias, [0], [d])),
        length: T,
        positions: weightArray(e.positions, [0, 0], [T, d]).data,
      },
    ];
  }
}

export const tokenEmbedding: ElasticBlock<TokenEmbeddingBlock> = {
  type: 'tokenEmbedding',
  create: (build) => new TokenEmbeddingInstance(build),
};

export const patchEmbedding: ElasticBlock<PatchEmbeddingBlock> = {
  type: 'patchEmbedding',
  create: (build) => new PatchEmbeddingInstance(build),
};
