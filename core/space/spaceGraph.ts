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
import { planSpace, type StagePlan } from './planSpace.js';
import type { Arch, BlockChoice, SearchSpace } from './SearchSpace.js';
import { largestArch } from './archCodec.js';
import { describeRouting } from './routing/registry.js';
import { routableSlots, routingShape } from './validateSpace.js';

export type GraphNodeKind = 'input' | 'reshape' | 'dense' | 'conv' | 'moe' | 'head';

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
const list = (xs: readonly (number | string)[]) => xs.join(', ');

type Block = SearchSpace['stages'][number]['block'];
type MoE = Extract<Block, { type: 'moe' }>;

/** Experts per token the routing nominally computes (see the header for the deviation). */
export function nominalExpertsPerToken(b: MoE): number {
  return describeRouting(b.routing).ffnPerToken(b.routing, routingShape(b));
}

/** Parameters one block of the stage allocates (supernetParams' per-block term). */
function blockParams(b: Block, p: StagePlan): number {
  const inMax = Math.max(p.inMax, p.outMax);
  if (b.type === 'dense') return inMax * Math.max(...b.width) + Math.max(...b.width);
  if (b.type === 'conv') {
    const c = Math.max(...b.channels);
    return Math.max(...b.kernel) ** 2 * inMax * c + 2 * c;
  }
  const d = p.inMax;
  const h = Math.max(...b.expertHidden) / b.segments;
  return b.iterations * d * routableSlots(b) + (b.experts * b.segments + b.sharedExperts) * (2 * d * h + h + d) + b.constantExperts * d;
}

/** FLOPs of one block at input width d (and spatial size for conv), mirroring countFlops. */
function blockFlops(b: Block, c: BlockChoice, d: number, [hgt, wid]: [number, number]): number {
  if (b.type === 'dense') return 2 * d * c.width!;
  if (b.type === 'conv') return 2 * c.kernel! ** 2 * d * c.channels! * Math.ceil(hgt / b.stride) * Math.ceil(wid / b.stride);
  const h = c.expertHidden! / b.segments;
  const ffn = 2 * (2 * d * h);
  const slots = routableSlots(b);
  const gateMap = 'gatingResidual' in b && b.gatingResidual ? 2 * slots * slots : 0;
  // Chain-of-Experts runs the whole layer once per iteration.
  return b.iterations * (2 * d * slots + gateMap + (nominalExpertsPerToken(b) + b.sharedExperts) * ffn + 6 * b.constantExperts * d);
}

function blockChoices(b: Block): string[] {
  if (b.type === 'dense') return [`width ${list(b.width)}`, ...(b.ops.length > 1 ? [`ops ${list(b.ops)}`] : [])];
  if (b.type === 'conv') return [`channels ${list(b.channels)}`, `kernel ${list(b.kernel)}`, ...(b.stride === 2 ? ['stride 2'] : []), ...(b.ops.length > 1 ? [`ops ${list(b.ops)}`] : [])];
  const routing = describeRouting(b.routing).summary(b.routing);
  const extra = [
    b.sharedExperts ? `${b.sharedExperts} shared` : '',
    b.segments > 1 ? `${b.segments} segments` : '',
    b.nullExperts ? `${b.nullExperts} null` : '',
    b.zeroExperts + b.copyExperts + b.constantExperts ? `${b.zeroExperts + b.copyExperts + b.constantExperts} zero/copy/const` : '',
  ].filter(Boolean);
  return [`${b.experts} experts · ${routing}`, `hidden ${list(b.expertHidden)}`, ...extra];
}

function describePick(b: Block, depth: number, blocks: readonly BlockChoice[]): string {
  const one = (c: BlockChoice) =>
    c.op === 'identity' ? 'skip' : b.type === 'dense' ? `${c.width}` : b.type === 'conv' ? `${c.channels}@${c.kernel}×${c.kernel}` : `h${c.expertHidden}`;
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
      shape: input.kind === 'vector' ? `vector ${input.dim}` : `image ${input.height}×${input.width}×${input.channels}`,
      choices: [],
      params: 0,
      flops: 0,
    },
  ];
  let width = input.kind === 'vector' ? input.dim : input.channels;
  let spatial: [number, number] = input.kind === 'image' ? [input.height, input.width] : [1, 1];
  let image = input.kind === 'image';
  const toVector = (id: string) => {
    if (!image) return;
    const before = `${spatial[0]}×${spatial[1]}×${width}`;
    if (!plan.hasConv) width = width * spatial[0] * spatial[1];
    nodes.push({ id, kind: 'reshape', title: plan.hasConv ? 'global average pool' : 'flatten', shape: `${before} → ${width}`, choices: [], params: 0, flops: 0 });
    image = false;
    spatial = [1, 1];
  };
  space.stages.forEach((stage, i) => {
    const b = stage.block;
    const p = plan.stages[i]!;
    if (b.type !== 'conv') toVector(`${stage.id}.reshape`);
    const sa = arch.stages[i]!;
    let flops = 0;
    for (let j = 0; j < sa.depth; j++) {
      const c = sa.blocks[j]!;
      if (c.op === 'identity') continue;
      flops += blockFlops(b, c, width, spatial);
      if (b.type === 'conv' && b.stride === 2) spatial = [Math.ceil(spatial[0] / 2), Math.ceil(spatial[1] / 2)];
      width = c.op === 'identity' ? width : (c.width ?? c.channels ?? width);
    }
    nodes.push({
      id: stage.id,
      kind: b.type,
      title: `${stage.id} · ${b.type}`,
      shape: `${range(p.inWidths)} → ${range(p.outWidths)}`,
      choices: [`depth ${range(stage.depth)}`, ...blockChoices(b)],
      picked: describePick(b, sa.depth, sa.blocks),
      params: Math.max(...stage.depth) * blockParams(b, p),
      flops,
    });
  });
  toVector('head.reshape');
  nodes.push({
    id: 'head',
    kind: 'head',
    title: 'classifier',
    shape: `${range(plan.headWidths)} → ${space.numClasses}`,
    choices: [],
    params: plan.headInMax * space.numClasses + space.numClasses,
    flops: 2 * width * space.numClasses,
  });
  return nodes;
}
