/**
 * Static shape plan of a search space: which tensor kind each stage sees and the widths it can take.
 *
 * Width rules (shared by validation, the supernet and export):
 * - Vector input feeds the first stage directly (no stem): a first dense layer reads `input.dim` units.
 * - Image input flows NHWC through conv stages. Before the first dense/moe stage the image becomes a
 *   vector: global average pooling when the space has conv stages (width = channels), flattening
 *   otherwise (width = height · width · channels).
 * - A block's possible output widths are its descriptor's `outWidths` (core/space/blocks/<type>.ts): a dense
 *   block's chosen width, a conv block's chosen channels, an MoE block its input width; an `identity` op
 *   skips the block, so the tensor (and its width) passes unchanged.
 * - A stage whose block does not read images (descriptor `reads`) turns an image into a vector first.
 * - The classifier head reads whatever width the last stage produced (an elastic input slice).
 * Every layer's weights are allocated at the largest width that can reach it and sliced per subnet
 * (Once-for-All, Cai et al., 2020).
 */
import { describeBlock } from './blocks/registry.js';
import type { SampleShape } from './blocks/descriptor.js';
import type { BlockType, InputSpec, SearchSpace } from './SearchSpace.js';

export type TensorKind = 'image' | 'vector';

export interface StagePlan {
  id: string;
  type: BlockType;
  /** How the stage's input is formed from the previous tensor. */
  reshapeBefore: 'none' | 'gap' | 'flatten';
  /** Possible input widths (units for vectors, channels for images), ascending. */
  inWidths: number[];
  /** Possible output widths of the stage (over every depth and op choice), ascending. */
  outWidths: number[];
  /** Largest input / output width: the size weights are allocated at. */
  inMax: number;
  outMax: number;
}

export interface SpacePlan {
  stages: StagePlan[];
  /** Possible widths reaching the classifier head. */
  headWidths: number[];
  headInMax: number;
  /** True when the space has a stage that reads images, e.g. conv (images are then pooled rather than flattened). */
  hasConv: boolean;
}

const sorted = (s: Set<number>) => [...s].sort((a, b) => a - b);

/**
 * Plan a space. Assumes the schema parsed; tolerates semantic errors (a conv stage after a dense one is
 * planned as if its input were an image) so validation can report them with paths.
 */
export function planSpace(space: SearchSpace): SpacePlan {
  const stages: StagePlan[] = [];
  const hasConv = space.stages.some((s) => describeBlock(s.block).reads.includes('image'));
  let kind: TensorKind = space.input.kind === 'image' ? 'image' : 'vector';
  let widths: Set<number>;
  // A sequence's width is its features per token; token ids' is the vocabulary (what an embedding allocates).
  const input = space.input;
  if (input.kind === 'image') widths = new Set([input.channels]);
  else if (input.kind === 'tokens') widths = new Set([input.vocab]);
  else widths = new Set([input.dim]);
  for (const stage of space.stages) {
    const block = stage.block;
    let reshapeBefore: StagePlan['reshapeBefore'] = 'none';
    if (!describeBlock(block).reads.includes('image') && kind === 'image' && space.input.kind === 'image') {
      if (hasConv) reshapeBefore = 'gap';
      else {
        reshapeBefore = 'flatten';
        widths = new Set([...widths].map((c) => space.input.kind === 'image' ? space.input.height * space.input.width * c : c));
      }
      kind = 'vector';
    }
    const inWidths = sorted(widths);
    // Output set over every depth choice: block j's input is block j-1's output.
    let cur = new Set(widths);
    const out = new Set<number>();
    const maxDepth = Math.max(...stage.depth);
    for (let j = 0; j < maxDepth; j++) {
      cur = describeBlock(block).outWidths(block, cur);
      if (stage.depth.includes(j + 1)) for (const w of cur) out.add(w);
    }
    const plan: StagePlan = {
      id: stage.id,
      type: block.type,
      reshapeBefore,
      inWidths,
      outWidths: sorted(out),
      inMax: Math.max(...inWidths),
      outMax: Math.max(...out),
    };
    stages.push(plan);
    widths = out;
  }
  // When every stage is conv, the head sees the globally pooled image: its width is the channel count.
  const headWidths = sorted(widths);
  return { stages, headWidths, headInMax: Math.max(...headWidths), hasConv };
}

/** The per-sample shape of a space's input: a vector of `dim`, an H×W image of `channels`, T token ids (width = vocabulary) or T tokens of `dim`. */
export function inputShape(input: InputSpec): SampleShape {
  switch (input.kind) {
    case 'vector':
      return { layout: 'vector', width: input.dim, spatial: [1, 1], length: 1 };
    case 'image':
      return { layout: 'image', width: input.channels, spatial: [input.height, input.width], length: 1 };
    case 'tokens':
      return { layout: 'tokens', width: input.vocab, spatial: [1, 1], length: input.length };
    case 'sequence':
      return { layout: 'sequence', width: input.dim, spatial: [1, 1], length: input.length };
  }
}
