/**
 * Architectures as fixed-length integer vectors, for samplers, evolutionary search and charts.
 *
 * Layout, stage by stage: one position for the depth choice, then for every block up to the stage's
 * largest depth the block's positions:
 * - dense: [op, width]
 * - conv:  [op, channels, kernel]
 * - moe:   [expertHidden]
 * Each position holds an index into the space's choice list (ops in the order `ops` lists them).
 * Positions of blocks beyond the chosen depth, and the width / channel / kernel positions of an identity
 * block, do not affect the subnet: `encodeArch` writes 0 there so every arch has one canonical vector.
 */
import type { ValidationIssue } from './validationIssue.js';
import type { Rng } from './rng.js';
import type { Arch, Block, BlockChoice, SearchSpace } from './SearchSpace.js';

type StageArch = Arch['stages'][number];

function mainOp(block: Block): 'dense' | 'conv' | null {
  return block.type === 'moe' ? null : block.type;
}

function blockDims(block: Block): number[] {
  if (block.type === 'dense') return [block.ops.length, block.width.length];
  if (block.type === 'conv') return [block.ops.length, block.channels.length, block.kernel.length];
  return [block.expertHidden.length];
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
  if (block.type === 'moe') return [{ label: `${prefix}.hidden`, choices: names(block.expertHidden) }];
  const op = { label: `${prefix}.op`, choices: names(block.ops) };
  if (block.type === 'dense') return [op, { label: `${prefix}.width`, choices: names(block.width) }];
  return [op, { label: `${prefix}.channels`, choices: names(block.channels) }, { label: `${prefix}.kernel`, choices: names(block.kernel) }];
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
    for (let j = 0; j < Math.max(...stage.depth); j++) {
      const kept = j < depth;
      const identity = stage.block.type !== 'moe' && stage.block.ops[vec[o] ?? 0] === 'identity';
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
  if (block.type === 'moe') return [idx(block.expertHidden, choice.expertHidden)];
  const op = idx(block.ops, choice.op ?? block.type);
  if (block.ops[op] === 'identity') return blockDims(block).map((_, i) => (i === 0 ? op : 0));
  if (block.type === 'dense') return [op, idx(block.width, choice.width)];
  return [op, idx(block.channels, choice.channels), idx(block.kernel, choice.kernel)];
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

function decodeBlock(block: Block, v: number[]): BlockChoice {
  if (block.type === 'moe') return { expertHidden: block.expertHidden[v[0]!]! };
  const op = block.ops[v[0]!]!;
  if (op === 'identity') return { op };
  if (block.type === 'dense') return { op, width: block.width[v[1]!]! };
  return { op, channels: block.channels[v[1]!]!, kernel: block.kernel[v[2]!]! };
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
  if (block.type === 'moe') return { expertHidden: rng.pick(block.expertHidden) };
  const op = rng.pick(block.ops as string[]);
  if (op === 'identity') return { op };
  if (block.type === 'dense') return { op, width: rng.pick(block.width) };
  return { op, channels: rng.pick(block.channels), kernel: rng.pick(block.kernel) };
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
  if (block.type === 'moe') return { expertHidden: pick(block.expertHidden) };
  const main = mainOp(block)!;
  // The sandwich rule's smallest child is the thinnest real network, so prefer the layer over a skip.
  if (!(block.ops as string[]).includes(main)) return { op: 'identity' };
  if (block.type === 'dense') return { op: main, width: pick(block.width) };
  return { op: main, channels: pick(block.channels), kernel: pick(block.kernel) };
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
      if (b.type === 'moe') check('expertHidden', b.expertHidden);
      else {
        check('op', b.ops);
        if (c.op !== 'identity') {
          if (b.type === 'dense') check('width', b.width);
          else {
            check('channels', b.channels);
            check('kernel', b.kernel);
          }
        }
      }
      for (const k of Object.keys(c)) if (!allowed.has(k)) add(`${bat}.${k}`, `does not apply to ${c.op === 'identity' ? 'an identity' : `a ${b.type}`} block`);
    });
  });
  return issues;
}

/** A stable string key (same arch ⇒ same key) for caches and de-duplication. */
export function archKey(arch: Arch): string {
  return arch.stages
    .map((s) =>
      [
        s.depth,
        ...s.blocks.map((b) =>
          [b.op ?? '', b.width ?? '', b.channels ?? '', b.kernel ?? '', b.expertHidden ?? ''].join(','),
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
      const b = stage.block;
      if (sa.blocks.length > 0) {
        if (b.type === 'moe') parts.push(`h${list(sa.blocks.map((c) => c.expertHidden ?? '?'))}`);
        else if (b.type === 'dense') parts.push(`w${list(sa.blocks.map((c) => (c.op === 'identity' ? 'id' : (c.width ?? '?'))))}`);
        else {
          parts.push(`c${list(sa.blocks.map((c) => (c.op === 'identity' ? 'id' : (c.channels ?? '?'))))}`);
          if (b.kernel.length > 1) {
            const ks = sa.blocks.filter((c) => c.op !== 'identity').map((c) => c.kernel ?? '?');
            if (ks.length > 0) parts.push(`k${list(ks)}`);
          }
        }
      }
      return `${stage.id}: ${parts.join(' ')}`;
    })
    .join(' | ');
}
