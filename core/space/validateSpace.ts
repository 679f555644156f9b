/**
 * Validation of a search-space document: the zod schema first (shape, ranges, defaults), then semantic
 * checks the schema cannot express, each reported with the path of the field to fix, e.g.
 * `stages[1].block.routing.k`.
 */
import { issuesOf, type ValidationIssue } from './validationIssue.js';
import { inputShape, planSpace } from './planSpace.js';
import type { Choice } from './blocks/descriptor.js';
import { SearchSpace } from './SearchSpace.js';
import { describeBlock } from './blocks/registry.js';

export type ValidateSpaceResult = { ok: true; space: SearchSpace; issues: [] } | { ok: false; issues: ValidationIssue[] };

/** Supernets above this many parameters are refused: they would not train on the CPU backends. */
export const MAX_SUPERNET_PARAMS = 50_000_000;

// The MoE block's slot arithmetic lives with its descriptor; re-exported for existing importers.
export { routableSlots, routingShape, specialExperts } from './blocks/moe.js';

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

  // A stage that reads only images needs one: the tensor stops being an image at the first stage that
  // reads vectors (pooled or flattened, core/space/planSpace.ts).
  let image = space.input.kind === 'image';
  space.stages.forEach((stage, i) => {
    const d = describeBlock(stage.block);
    if (d.reads.includes('image') && !d.reads.includes('vector')) {
      if (!image) {
        add(
          `stages[${i}].block.type`,
          space.input.kind === 'vector'
            ? `${d.label} stages need an image input; this space takes vectors`
            : `${d.label} stages must come before any stage that reads vectors (the image has been pooled into a vector by then)`,
        );
      }
    } else if (!d.reads.includes('image')) image = false;
  });

  layoutIssues(space, add);

  // Each block type's own checks (core/space/blocks/<type>.ts validate).
  const plan = planSpace(space);
  space.stages.forEach((stage, i) => {
    const b = stage.block;
    const ctx = { inWidths: plan.stages[i]!.inWidths, maxDepth: Math.max(...stage.depth), inLength: inputShape(space.input).length };
    for (const issue of describeBlock(b).validate?.(b, ctx) ?? []) add(`stages[${i}].block.${issue.field}`, issue.message);
  });

  if (issues.length === 0) {
    const params = supernetParams(space);
    if (params > MAX_SUPERNET_PARAMS) {
      add('stages', `the supernet would hold ${fmtCount(params)} parameters; the limit is ${fmtCount(MAX_SUPERNET_PARAMS)}`);
    }
  }
  return issues;
}

/**
 * Token ids and sequences: a stage must read the layout that reaches it (descriptor `reads`; a sequence
 * becomes a vector by its token mean for a block that reads only vectors, nothing turns ids into anything
 * but a token embedding), and ids cannot reach the head. Images are checked above in their own words.
 */
function layoutIssues(space: SearchSpace, add: (path: string, message: string) => void): void {
  let shape = inputShape(space.input);
  if (shape.layout !== 'tokens' && shape.layout !== 'sequence') return;
  for (const [i, stage] of space.stages.entries()) {
    const d = describeBlock(stage.block);
    if (!d.reads.includes(shape.layout)) {
      if (shape.layout === 'sequence' && d.reads.includes('vector')) shape = { ...shape, layout: 'vector', length: 1 };
      else {
        add(`stages[${i}].block.type`, `a ${d.label} block reads ${d.reads.join(' or ')}, but ${shape.layout === 'tokens' ? 'token ids reach it (start with a token embedding stage)' : `a ${shape.layout} reaches it`}`);
        return;
      }
    }
    const first = largestChoice(stage.block);
    shape = d.outShape(stage.block, first, shape);
  }
  if (shape.layout === 'tokens') add('stages', 'token ids reach the head: start with a token embedding stage');
}

function largestChoice(block: SearchSpace['stages'][number]['block']): Choice {
  const d = describeBlock(block);
  const c: Choice = {};
  for (const dim of d.dims(block)) c[dim.key] = Math.max(...dim.values);
  return c;
}

/** Parameters the whole supernet allocates (every layer at its largest size). */
export function supernetParams(space: SearchSpace): number {
  const plan = planSpace(space);
  let total = 0;
  space.stages.forEach((stage, i) => {
    const p = plan.stages[i]!;
    // Block j's input is at most max(stage input, block output) when identity can pass widths through.
    total += Math.max(...stage.depth) * describeBlock(stage.block).maxParams(stage.block, Math.max(p.inMax, p.outMax));
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
  const d = describeBlock(block);
  const main = d.dims(block).reduce((n, x) => n * x.values.length, 1);
  const ops = d.ops?.(block);
  if (!ops) return main;
  return (ops.includes(d.mainOp) ? main : 0) + (ops.includes('identity') ? 1 : 0);
}

function fmtCount(n: number): string {
  return n >= 1e6 ? `${(n / 1e6).toFixed(1)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)}k` : String(n);
}
