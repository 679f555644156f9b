/**
 * Static shape plan of a search space: which tensor kind each stage sees and the widths it can take.
 *
 * Width rules (shared by validation, the supernet and export):
 * - Vector input feeds the first stage directly (no stem): a first dense layer reads `input.dim` units.
 * - Image input flows NHWC through conv stages. Before the first dense/moe stage the image becomes a
 *   vector: global average pooling when the space has conv stages (width = channels), flattening
 *   otherwise (width = height · width · channels).
 * - A dense block's output width is its chosen width; a conv block's output channels are its chosen
 *   channels. An `identity` op skips the block, so the tensor (and its width) passes unchanged.
 * - An MoE block maps width d to width d (each expert is d → hidden → d), so it keeps its input width.
 * - The classifier head reads whatever width the last stage produced (an elastic input slice).
 * Every layer's weights are allocated at the largest width that can reach it and sliced per subnet
 * (Once-for-All, Cai et al., 2020).
 */
import type { SearchSpace } from './SearchSpace.js';

export type TensorKind = 'image' | 'vector';

export interface StagePlan {
  id: string;
  type: 'dense' | 'conv' | 'moe';
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
  /** True when the space has at least one conv stage (images are pooled rather than flattened). */
  hasConv: boolean;
}

const sorted = (s: Set<number>) => [...s].sort((a, b) => a - b);

/** Output widths of one block given its possible input widths. */
function blockOut(block: SearchSpace['stages'][number]['block'], inW: Set<number>): Set<number> {
  if (block.type === 'moe') return new Set(inW);
  const out = new Set<number>();
  const main = block.type === 'dense' ? 'dense' : 'conv';
  const sizes = block.type === 'dense' ? block.width : block.channels;
  if ((block.ops as string[]).includes(main)) for (const w of sizes) out.add(w);
  if ((block.ops as string[]).includes('identity')) for (const w of inW) out.add(w);
  return out;
}

/**
 * Plan a space. Assumes the schema parsed; tolerates semantic errors (a conv stage after a dense one is
 * planned as if its input were an image) so validation can report them with paths.
 */
export function planSpace(space: SearchSpace): SpacePlan {
  const stages: StagePlan[] = [];
  const hasConv = space.stages.some((s) => s.block.type === 'conv');
  let kind: TensorKind = space.input.kind === 'image' ? 'image' : 'vector';
  let widths: Set<number>;
  if (space.input.kind === 'image') {
    widths = new Set([space.input.channels]);
  } else {
    widths = new Set([space.input.dim]);
  }
  for (const stage of space.stages) {
    const block = stage.block;
    let reshapeBefore: StagePlan['reshapeBefore'] = 'none';
    if (block.type !== 'conv' && kind === 'image' && space.input.kind === 'image') {
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
      cur = blockOut(block, cur);
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
