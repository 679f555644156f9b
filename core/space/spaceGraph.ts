/**
 * A search space as a graph for the editor's picture of it (Netron-like): the input, one node per
 * stage with its tensor shapes, its choices as ranges, the parameters it allocates and the FLOPs of
 * one subnet's pass through it (default: the largest subnet), the reshape before the first vector
 * stage, and the classifier head.
 *
 * Parameters follow supernetParams (what the supernet allocates: every layer at its largest size), so
 * the nodes sum to it. FLOPs follow ElasticSupernet.countFlops for one sample (2 per multiply-add),
 * with one deviation: an MoE layer's experts per token are the routing's nominal number (top-k: k per
 * segment; top-p: its maxK; expert choice: capacity · experts / slots), where the trained supernet uses
 * the share it measured — the search results carry the measured figure.
 */
import { inputShape, planSpace, type StagePlan } from './planSpace.js';
import { describeInput, type Arch, type BlockChoice, type SearchSpace } from './SearchSpace.js';
import { largestArch } from './archCodec.js';
import { describeBlock } from './blocks/registry.js';
import type { SampleShape } from './blocks/descriptor.js';
import { describeRouting } from './routing/registry.js';
import { routingShape } from './validateSpace.js';
import type { BlockType } from './SearchSpace.js';

export type GraphNodeKind = 'input' | 'reshape' | BlockType | 'head';

export interface GraphNode {
  id: string;
  kind: GraphNodeKind;
  title: string;
  /** Tensor shape in → out, ranges where elastic: `2 → 32–64`. */
  shape: string;
  /** The stage's choices as text: `depth 1–2`, `width 32, 64`. */
  choices: string[];
  /** What the shown subnet picked here (absent for input, reshape and head). */
  picked?: string;
  /** Parameters allocated (largest size). */
  params: number;
  /** FLOPs of the shown subnet through this node, per sample. */
  flops: number;
}

const range = (xs: readonly number[]) => {
  const lo = Math.min(...xs);
  const hi = Math.max(...xs);
  return lo === hi ? `${lo}` : `${lo}–${hi}`;
};

type Block = SearchSpace['stages'][number]['block'];
type MoE = Extract<Block, { type: 'moe' }>;

/** Experts per token the routing nominally computes (see the header for the deviation). */
export function nominalExpertsPerToken(b: MoE): number {
  return describeRouting(b.routing).ffnPerToken(b.routing, routingShape(b));
}

/** Parameters one block of the stage allocates (supernetParams' per-block term). */
function blockParams(b: Block, p: StagePlan): number {
  return describeBlock(b).maxParams(b, Math.max(p.inMax, p.outMax));
}

function describePick(b: Block, depth: number, blocks: readonly BlockChoice[]): string {
  const one = (c: BlockChoice) => (c.op === 'identity' ? 'skip' : describeBlock(b).pickText(b, c));
  return `depth ${depth}: ${blocks.slice(0, depth).map(one).join(', ')}`;
}

/** The graph of `space`, FLOPs and picks for `arch` (default: the largest subnet). */
export function spaceGraph(space: SearchSpace, arch: Arch = largestArch(space)): GraphNode[] {
  const plan = planSpace(space);
  const input = space.input;
  const nodes: GraphNode[] = [
    {
      id: 'input',
      kind: 'input',
      title: 'input',
      shape: input.kind === 'vector' ? `vector ${input.dim}` : input.kind === 'image' ? `image ${input.height}×${input.width}×${input.channels}` : describeInput(input),
      choices: [],
      params: 0,
      flops: 0,
    },
  ];
  let shape: SampleShape = inputShape(input);
  const toVector = (id: string) => {
    if (shape.layout !== 'image') return;
    const before = `${shape.spatial[0]}×${shape.spatial[1]}×${shape.width}`;
    const width = plan.hasConv ? shape.width : shape.width * shape.spatial[0] * shape.spatial[1];
    nodes.push({ id, kind: 'reshape', title: plan.hasConv ? 'global average pool' : 'flatten', shape: `${before} → ${width}`, choices: [], params: 0, flops: 0 });
    shape = { layout: 'vector', width, spatial: [1, 1], length: 1 };
  };
  space.stages.forEach((stage, i) => {
    const b = stage.block;
    const d = describeBlock(b);
    const p = plan.stages[i]!;
    if (!d.reads.includes(shape.layout)) toVector(`${stage.id}.reshape`);
    const sa = arch.stages[i]!;
    let flops = 0;
    for (let j = 0; j < sa.depth; j++) {
      const c = sa.blocks[j]!;
      if (c.op === 'identity') continue;
      flops += d.nominalFlops(b, c, shape);
      shape = d.outShape(b, c, shape);
    }
    nodes.push({
      id: stage.id,
      kind: b.type,
      title: `${stage.id} · ${b.type}`,
      shape: `${range(p.inWidths)} → ${range(p.outWidths)}`,
      choices: [`depth ${range(stage.depth)}`, ...d.choiceText(b)],
      picked: describePick(b, sa.depth, sa.blocks),
      params: Math.max(...stage.depth) * blockParams(b, p),
      flops,
    });
  });
  toVector('head.reshape');
  // A token input's head predicts every position; any other sequence is mean-pooled into one vector first.
  const perToken = input.kind === 'tokens';
  const T = shape.length;
  if (!perToken && shape.layout === 'sequence') nodes.push({ id: 'head.reshape', kind: 'reshape', title: 'token mean', shape: `${T}×${shape.width} → ${shape.width}`, choices: [], params: 0, flops: 0 });
  nodes.push({
    id: 'head',
    kind: 'head',
    title: perToken ? 'next-token head' : 'classifier',
    shape: perToken ? `${T}×${range(plan.headWidths)} → ${T}×${space.numClasses}` : `${range(plan.headWidths)} → ${space.numClasses}`,
    choices: [],
    params: plan.headInMax * space.numClasses + space.numClasses,
    flops: 2 * shape.width * space.numClasses * (perToken ? T : 1),
  });
  return nodes;
}
