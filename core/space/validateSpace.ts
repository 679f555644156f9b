/**
 * Validation of a search-space document: the zod schema first (shape, ranges, defaults), then semantic
 * checks the schema cannot express, each reported with the path of the field to fix, e.g.
 * `stages[1].block.routing.k`.
 */
import { issuesOf, type ValidationIssue } from './validationIssue.js';
import { planSpace } from './planSpace.js';
import { SearchSpace, type MoEBlock } from './SearchSpace.js';
import type { RoutingShape } from './routing/descriptor.js';
import { describeRouting } from './routing/registry.js';

export type ValidateSpaceResult = { ok: true; space: SearchSpace; issues: [] } | { ok: false; issues: ValidationIssue[] };

/** Supernets above this many parameters are refused: they would not train on the CPU backends. */
export const MAX_SUPERNET_PARAMS = 50_000_000;

/** Routable slots of an MoE block: fine-grained routed experts plus null / zero / copy / constant ones. */
export function routableSlots(b: MoEBlock): number {
  return b.experts * b.segments + specialExperts(b);
}

/** Experts that run no FFN (AdaMoE null experts; MoE++ zero, copy and constant experts). */
export function specialExperts(b: MoEBlock): number {
  return b.nullExperts + b.zeroExperts + b.copyExperts + b.constantExperts;
}

/** The numbers of a block its routing's arithmetic reads (core/space/routing/descriptor.ts). */
export function routingShape(b: MoEBlock): RoutingShape {
  const slots = routableSlots(b);
  return {
    segments: b.segments,
    ffnExperts: b.experts * b.segments,
    slots,
    capacityFactor: b.capacityFactor,
    slotText: `${slots} routable slots (${b.experts}×${b.segments} routed + ${specialExperts(b)} null/zero/copy/constant)`,
  };
}

export function validateSpace(input: unknown): ValidateSpaceResult {
  const parsed = SearchSpace.safeParse(input);
  if (!parsed.success) return { ok: false, issues: issuesOf(parsed.error) };
  const space = parsed.data;
  const issues = semanticIssues(space);
  if (issues.length > 0) return { ok: false, issues };
  return { ok: true, space, issues: [] };
}

function semanticIssues(space: SearchSpace): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  const add = (path: string, message: string) => issues.push({ path, message });

  const seen = new Map<string, number>();
  space.stages.forEach((stage, i) => {
    const first = seen.get(stage.id);
    if (first !== undefined) add(`stages[${i}].id`, `duplicate stage id "${stage.id}" (first used by stages[${first}])`);
    else seen.set(stage.id, i);
  });

  // Conv stages need an image: the tensor stops being one at the first dense/moe stage.
  let image = space.input.kind === 'image';
  space.stages.forEach((stage, i) => {
    if (stage.block.type === 'conv') {
      if (!image) {
        add(
          `stages[${i}].block.type`,
          space.input.kind === 'vector'
            ? 'conv stages need an image input; this space takes vectors'
            : 'conv stages must come before any dense or moe stage (the image has been pooled into a vector by then)',
        );
      }
    } else image = false;
  });

  const plan = planSpace(space);
  space.stages.forEach((stage, i) => {
    const b = stage.block;
    const at = `stages[${i}].block`;
    const stagePlan = plan.stages[i]!;
    if (b.type === 'dense' || b.type === 'conv') {
      const ops = b.ops as string[];
      if (new Set(ops).size !== ops.length) add(`${at}.ops`, 'ops must be distinct');
      if (ops.includes('identity')) {
        const sizes = b.type === 'dense' ? b.width : b.channels;
        const unit = b.type === 'dense' ? 'width' : 'channels';
        // A skip should keep the tensor's shape, so it only makes sense where some block's input width
        // equals a width the block itself can produce (the SPOS / OFA "skip" candidate). Blocks after
        // the first read the previous block's output, which matches whenever the layer op is present.
        const laterBlocksMatch = Math.max(...stage.depth) > 1 && ops.includes(b.type);
        const match = laterBlocksMatch || stagePlan.inWidths.some((w) => sizes.includes(w));
        if (!match) {
          add(
            `${at}.ops`,
            `identity needs an input ${unit} equal to one of the block's ${unit} choices [${sizes.join(', ')}]; inputs here have ${unit} ${fmtSet(stagePlan.inWidths)}`,
          );
        }
        if (b.type === 'conv' && b.stride === 2) add(`${at}.ops`, 'identity cannot replace a stride-2 conv (the spatial size would not match)');
      }
    }
    if (b.type === 'moe') {
      const m = b.segments;
      b.expertHidden.forEach((h, j) => {
        if (h % m !== 0) add(`${at}.expertHidden[${j}]`, `expert hidden width ${h} is not divisible by segments (${m})`);
      });
      for (const issue of describeRouting(b.routing).validate(b.routing, routingShape(b))) add(`${at}.${issue.field}`, issue.message);
    }
  });

  if (issues.length === 0) {
    const params = supernetParams(space);
    if (params > MAX_SUPERNET_PARAMS) {
      add('stages', `the supernet would hold ${fmtCount(params)} parameters; the limit is ${fmtCount(MAX_SUPERNET_PARAMS)}`);
    }
  }
  return issues;
}

/** Parameters the whole supernet allocates (every layer at its largest size). */
export function supernetParams(space: SearchSpace): number {
  const plan = planSpace(space);
  let total = 0;
  space.stages.forEach((stage, i) => {
    const b = stage.block;
    const p = plan.stages[i]!;
    const depth = Math.max(...stage.depth);
    let perBlock = 0;
    // Block j's input is at most max(stage input, block output) when identity can pass widths through.
    const inMax = Math.max(p.inMax, p.outMax);
    if (b.type === 'dense') perBlock = inMax * Math.max(...b.width) + Math.max(...b.width);
    if (b.type === 'conv') {
      const k = Math.max(...b.kernel);
      const c = Math.max(...b.channels);
      perBlock = k * k * inMax * c + 2 * c;
    }
    if (b.type === 'moe') {
      const d = p.inMax;
      const h = Math.max(...b.expertHidden) / b.segments;
      const ffn = 2 * d * h + h + d;
      perBlock = d * routableSlots(b) + (b.experts * b.segments + b.sharedExperts) * ffn + b.constantExperts * d;
    }
    total += depth * perBlock;
  });
  return total + plan.headInMax * space.numClasses + space.numClasses;
}

/** Number of distinct architectures (arch encodings) in the space: per stage Σ_depth (block choices)^depth. */
export function cardinality(space: SearchSpace): number {
  let total = 1;
  for (const stage of space.stages) {
    const c = blockChoiceCount(stage.block);
    let stageCount = 0;
    for (const d of stage.depth) stageCount += c ** d;
    total *= stageCount;
  }
  return total;
}

/** Distinct choices of one block: an identity op is one choice (its width is the input's). */
export function blockChoiceCount(block: SearchSpace['stages'][number]['block']): number {
  if (block.type === 'moe') return block.expertHidden.length;
  const ops = new Set(block.ops as string[]);
  const main = block.type === 'dense' ? block.width.length : block.channels.length * block.kernel.length;
  return (ops.has(block.type) ? main : 0) + (ops.has('identity') ? 1 : 0);
}

function fmtSet(xs: number[]): string {
  return xs.length === 1 ? String(xs[0]) : `{${xs.join(', ')}}`;
}

function fmtCount(n: number): string {
  return n >= 1e6 ? `${(n / 1e6).toFixed(1)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)}k` : String(n);
}
