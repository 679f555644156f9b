/**
 * Architectures as fixed-length integer vectors, for samplers, evolutionary search and charts.
 *
 * Layout, stage by stage: one position for the depth choice, then for every block up to the stage's
 * largest depth the block's positions, from its descriptor (core/space/blocks/<type>.ts): its op choice if it
 * has one, then its choice dimensions in order — dense [op, width], conv [op, channels, kernel],
 * moe [expertHidden]. Each position holds an index into the space's choice list (ops in the order `ops` lists them).
 * Positions of blocks beyond the chosen depth, and the width / channel / kernel positions of an identity
 * block, do not affect the subnet: `encodeArch` writes 0 there so every arch has one canonical vector.
 */
import type { ValidationIssue } from './validationIssue.js';
import type { Rng } from './rng.js';
import { describeBlock } from './blocks/registry.js';
import type { ChoiceDim } from './blocks/descriptor.js';
import type { Arch, Block, BlockChoice, SearchSpace } from './SearchSpace.js';

type StageArch = Arch['stages'][number];

/** A block's op choices (undefined: none, the block always runs) and numeric choice dimensions. */
function choiceSpec(block: Block): { ops: readonly string[] | undefined; main: string; dims: readonly ChoiceDim[] } {
  const d = describeBlock(block);
  return { ops: d.ops?.(block), main: d.mainOp, dims: d.dims(block) };
}

function blockDims(block: Block): number[] {
  const { ops, dims } = choiceSpec(block);
  return [...(ops ? [ops.length] : []), ...dims.map((x) => x.values.length)];
}

/** Number of choices at each vector position (fixed length for a space). */
export function archDims(space: SearchSpace): number[] {
  const dims: number[] = [];
  for (const stage of space.stages) {
    dims.push(stage.depth.length);
    const bd = blockDims(stage.block);
    for (let j = 0; j < Math.max(...stage.depth); j++) dims.push(...bd);
  }
  return dims;
}

/** What one vector position chooses, for people: `stem.b1.width` with choices ["32", "64"]. */
export interface ArchPosition {
  label: string;
  choices: string[];
}

function blockPositions(block: Block, prefix: string): ArchPosition[] {
  const names = (xs: readonly (number | string)[]) => xs.map(String);
  const { ops, dims } = choiceSpec(block);
  return [...(ops ? [{ label: `${prefix}.op`, choices: names(ops) }] : []), ...dims.map((x) => ({ label: `${prefix}.${x.label ?? x.key}`, choices: names(x.values) }))];
}

/** One entry per vector position, in `archDims` order. */
export function archPositions(space: SearchSpace): ArchPosition[] {
  const out: ArchPosition[] = [];
  for (const stage of space.stages) {
    out.push({ label: `${stage.id}.depth`, choices: stage.depth.map(String) });
    for (let j = 0; j < Math.max(...stage.depth); j++) out.push(...blockPositions(stage.block, `${stage.id}.b${j}`));
  }
  return out;
}

/**
 * Which positions of an encoded arch decide anything: a block beyond its stage's sampled depth is
 * encoded as 0 but was not trained, and an identity block has no width/kernel choice.
 */
export function activePositions(space: SearchSpace, vec: readonly number[]): boolean[] {
  const out: boolean[] = [];
  let o = 0;
  for (const stage of space.stages) {
    const depth = stage.depth[vec[o] ?? 0] ?? stage.depth[0]!;
    out.push(true);
    o++;
    const bd = blockDims(stage.block);
    const ops = choiceSpec(stage.block).ops;
    for (let j = 0; j < Math.max(...stage.depth); j++) {
      const kept = j < depth;
      const identity = ops?.[vec[o] ?? 0] === 'identity';
      bd.forEach((_, i) => out.push(kept && (i === 0 || !identity)));
      o += bd.length;
    }
  }
  return out;
}

/**
 * The canonical form of an encoded arch: every position that decides nothing (blocks beyond the
 * stage's chosen depth, the width/channel/kernel of an identity block) set to 0, as `encodeArch`
 * writes it; equal to `encodeArch(space, decodeArch(space, vec))`. Two encodings of one subnet have
 * one canonical vector, so anything that compares vectors (predictor features, de-duplication, cache
 * keys) should compare these.
 */
export function canonicalVector(space: SearchSpace, vec: readonly number[]): number[] {
  const active = activePositions(space, vec);
  return vec.map((v, i) => (active[i] ? v : 0));
}

function encodeBlock(block: Block, choice: BlockChoice | undefined): number[] {
  const idx = (xs: readonly (number | string)[], v: number | string | undefined) => Math.max(0, v === undefined ? 0 : xs.indexOf(v));
  if (!choice) return blockDims(block).map(() => 0);
  const { ops, main, dims } = choiceSpec(block);
  const values = dims.map((x) => idx(x.values, choice[x.key]));
  if (!ops) return values;
  const op = idx(ops, choice.op ?? main);
  if (ops[op] === 'identity') return blockDims(block).map((_, i) => (i === 0 ? op : 0));
  return [op, ...values];
}

/** Choice indices of `arch` (assumed valid: see `validateArch`). */
export function encodeArch(space: SearchSpace, arch: Arch): number[] {
  const vec: number[] = [];
  space.stages.forEach((stage, i) => {
    const sa = arch.stages[i];
    vec.push(Math.max(0, stage.depth.indexOf(sa?.depth ?? stage.depth[0]!)));
    for (let j = 0; j < Math.max(...stage.depth); j++) {
      vec.push(...encodeBlock(stage.block, j < (sa?.depth ?? 0) ? sa?.blocks[j] : undefined));
    }
  });
  return vec;
}

/** A choice from its op (absent: the block has no op choice) and one value per choice dimension. */
function choiceOf(op: string | undefined, dims: readonly ChoiceDim[], value: (x: ChoiceDim, i: number) => number): BlockChoice {
  const c: BlockChoice = op === undefined ? {} : { op };
  dims.forEach((x, i) => (c[x.key] = value(x, i)));
  return c;
}

function decodeBlock(block: Block, v: number[]): BlockChoice {
  const { ops, dims } = choiceSpec(block);
  if (!ops) return choiceOf(undefined, dims, (x, i) => x.values[v[i]!]!);
  const op = ops[v[0]!]!;
  if (op === 'identity') return { op };
  return choiceOf(op, dims, (x, i) => x.values[v[i + 1]!]!);
}

/** The arch a vector encodes. Throws when the vector has the wrong length or an index out of range. */
export function decodeArch(space: SearchSpace, vec: readonly number[]): Arch {
  const dims = archDims(space);
  if (vec.length !== dims.length) throw new Error(`arch vector has ${vec.length} positions; this space needs ${dims.length}`);
  vec.forEach((v, i) => {
    if (!Number.isInteger(v) || v < 0 || v >= dims[i]!) throw new Error(`arch vector position ${i} is ${v}; expected an integer in [0, ${dims[i]! - 1}]`);
  });
  let p = 0;
  const stages: StageArch[] = space.stages.map((stage) => {
    const depth = stage.depth[vec[p++]!]!;
    const n = blockDims(stage.block).length;
    const blocks: BlockChoice[] = [];
    for (let j = 0; j < Math.max(...stage.depth); j++) {
      const v = vec.slice(p, p + n);
      p += n;
      if (j < depth) blocks.push(decodeBlock(stage.block, v));
    }
    return { depth, blocks };
  });
  return { stages };
}

function sampleBlock(block: Block, rng: Rng): BlockChoice {
  const { ops, dims } = choiceSpec(block);
  // Draw order: the op, then each dimension in turn (the stream every seeded run replays).
  const op = ops ? rng.pick(ops as string[]) : undefined;
  if (op === 'identity') return { op };
  return choiceOf(op, dims, (x) => rng.pick(x.values as number[]));
}

/** Uniform over each choice in turn (single-path one-shot sampling, Guo et al., 2020). */
export function sampleArch(space: SearchSpace, rng: Rng): Arch {
  return {
    stages: space.stages.map((stage) => {
      const depth = rng.pick(stage.depth);
      const blocks: BlockChoice[] = [];
      for (let j = 0; j < depth; j++) blocks.push(sampleBlock(stage.block, rng));
      return { depth, blocks };
    }),
  };
}

function extremeBlock(block: Block, pick: (xs: number[]) => number): BlockChoice {
  const { ops, main, dims } = choiceSpec(block);
  // The sandwich rule's smallest child is the thinnest real network, so prefer the layer over a skip.
  if (ops && !ops.includes(main)) return { op: 'identity' };
  return choiceOf(ops ? main : undefined, dims, (x) => pick([...x.values]));
}

const maxOf = (xs: number[]) => Math.max(...xs);
const minOf = (xs: number[]) => Math.min(...xs);

/** Deepest, widest subnet (the supernet itself). */
export function largestArch(space: SearchSpace): Arch {
  return {
    stages: space.stages.map((stage) => {
      const depth = maxOf(stage.depth);
      return { depth, blocks: Array.from({ length: depth }, () => extremeBlock(stage.block, maxOf)) };
    }),
  };
}

/** Shallowest, thinnest subnet (the sandwich rule's smallest child, Yu et al., 2020). */
export function smallestArch(space: SearchSpace): Arch {
  return {
    stages: space.stages.map((stage) => {
      const depth = minOf(stage.depth);
      return { depth, blocks: Array.from({ length: depth }, () => extremeBlock(stage.block, minOf)) };
    }),
  };
}

/** Issues that make `arch` not a subnet of `space`, with paths such as `stages[0].blocks[1].width`. */
export function validateArch(space: SearchSpace, arch: Arch): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  const add = (path: string, message: string) => issues.push({ path, message });
  if (!arch || !Array.isArray(arch.stages)) return [{ path: 'stages', message: 'expected a list of stages' }];
  if (arch.stages.length !== space.stages.length) {
    add('stages', `the space has ${space.stages.length} stages; the arch has ${arch.stages.length}`);
    return issues;
  }
  space.stages.forEach((stage, i) => {
    const sa = arch.stages[i]!;
    const at = `stages[${i}]`;
    if (!stage.depth.includes(sa.depth)) add(`${at}.depth`, `depth ${sa.depth} is not one of [${stage.depth.join(', ')}] (stage "${stage.id}")`);
    if (!Array.isArray(sa.blocks) || sa.blocks.length !== sa.depth) {
      add(`${at}.blocks`, `expected ${sa.depth} block choices (one per kept block), got ${Array.isArray(sa.blocks) ? sa.blocks.length : 'none'}`);
      return;
    }
    const b = stage.block;
    sa.blocks.forEach((c, j) => {
      const bat = `${at}.blocks[${j}]`;
      const allowed = new Set<string>();
      const check = (field: keyof BlockChoice, xs: readonly (number | string)[]) => {
        allowed.add(field);
        const v = c[field];
        if (v === undefined) add(`${bat}.${field}`, `missing; choose one of [${xs.join(', ')}]`);
        else if (!xs.includes(v)) add(`${bat}.${field}`, `${v} is not one of [${xs.join(', ')}]`);
      };
      const { ops, dims } = choiceSpec(b);
      if (ops) check('op', ops);
      if (!ops || c.op !== 'identity') for (const x of dims) check(x.key, x.values);
      for (const k of Object.keys(c)) if (!allowed.has(k)) add(`${bat}.${k}`, `does not apply to ${c.op === 'identity' ? 'an identity' : `a ${b.type}`} block`);
    });
  });
  return issues;
}

const KEY_FIELDS = new Set(['op', 'width', 'channels', 'kernel', 'expertHidden']);
const extraFields = (b: BlockChoice) =>
  Object.entries(b)
    .filter(([k, v]) => !KEY_FIELDS.has(k) && v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([k, v]) => `${k}=${v}`);

/** A stable string key (same arch ⇒ same key) for caches and de-duplication. */
export function archKey(arch: Arch): string {
  return arch.stages
    .map((s) =>
      [
        s.depth,
        ...s.blocks.map((b) =>
          // Fields later block types added follow as name=value, sorted (older keys are unchanged).
          [b.op ?? '', b.width ?? '', b.channels ?? '', b.kernel ?? '', b.expertHidden ?? '', ...extraFields(b)].join(','),
        ),
      ].join(':'),
    )
    .join('|');
}

/** Short human text, e.g. "s1: d2 w[64,32] | moe: h128". Identity blocks show as "id". */
export function describeArch(space: SearchSpace, arch: Arch): string {
  const list = (xs: (number | string)[]) => (new Set(xs.map(String)).size === 1 ? String(xs[0]) : `[${xs.join(',')}]`);
  return space.stages
    .map((stage, i) => {
      const sa = arch.stages[i];
      if (!sa) return `${stage.id}: ?`;
      const parts: string[] = [];
      if (stage.depth.length > 1) parts.push(`d${sa.depth}`);
      const { dims } = choiceSpec(stage.block);
      if (sa.blocks.length > 0) {
        // The first dimension always (identity blocks as "id"), later ones where they have a choice.
        dims.forEach((x, i) => {
          const short = x.short ?? x.key[0]!;
          if (i === 0) parts.push(`${short}${list(sa.blocks.map((c) => (c.op === 'identity' ? 'id' : (c[x.key] ?? '?'))))}`);
          else if (x.values.length > 1) {
            const vs = sa.blocks.filter((c) => c.op !== 'identity').map((c) => c[x.key] ?? '?');
            if (vs.length > 0) parts.push(`${short}${list(vs)}`);
          }
        });
      }
      return `${stage.id}: ${parts.join(' ')}`;
    })
    .join(' | ');
}
