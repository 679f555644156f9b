/**
 * Pure edits of a search-space document as the user writes it (defaults may be missing, values may be
 * temporarily invalid: the core's `space.validate` judges them and the editor shows its issues).
 */
import { ROUTING_MODES as CORE_ROUTING_MODES, routingDescriptors } from '../../../core/space/routing/registry.js';
import type { SearchSpaceInput } from '../../../core/space/SearchSpace.js';
import { BLOCK_TYPES as CORE_BLOCK_TYPES, blockDescriptors } from '../../../core/space/blocks/registry.js';

export type SpaceDoc = SearchSpaceInput;
type StageDoc = SpaceDoc['stages'][number];
export type BlockDoc = StageDoc['block'];
export type BlockType = BlockDoc['type'];
type MoEDoc = Extract<BlockDoc, { type: 'moe' }>;
export type RoutingDoc = NonNullable<MoEDoc['routing']>;
export type RoutingMode = RoutingDoc['mode'];
export type PathKey = string | number;

/** The block types, from the core's registry of block descriptors (one list, not a copy). */
export const BLOCK_TYPES: readonly BlockType[] = CORE_BLOCK_TYPES;
/** The routing modes, from the core's registry of routing descriptors (one list, not a copy). */
export const ROUTING_MODES: readonly RoutingMode[] = CORE_ROUTING_MODES;

/** What the editor writes when a block type is picked: the type's descriptor's initial document. */
export function defaultBlock(type: BlockType): BlockDoc {
  return structuredClone(blockDescriptors[type].initial) as BlockDoc;
}

/** What the editor writes when a routing mode is picked: the mode's descriptor's initial document. */
export function defaultRouting(mode: RoutingMode): RoutingDoc {
  return structuredClone(routingDescriptors[mode].initial) as RoutingDoc;
}

export function newSpace(): SpaceDoc {
  return {
    version: 1,
    name: 'untitled',
    input: { kind: 'vector', dim: 2 },
    numClasses: 4,
    stages: [{ id: 'hidden', depth: [1, 2], block: defaultBlock('dense') }],
  };
}

/** An id not yet used by any stage: `moe`, `moe2`, `moe3`, … */
export function uniqueStageId(doc: SpaceDoc, base: string): string {
  const used = new Set(doc.stages.map((s) => s.id));
  if (!used.has(base)) return base;
  for (let i = 2; ; i++) if (!used.has(`${base}${i}`)) return `${base}${i}`;
}

function withStages(doc: SpaceDoc, stages: StageDoc[]): SpaceDoc {
  return { ...doc, stages };
}

/** Insert a new stage of `type` after index `after` (default: at the end). */
export function addStage(doc: SpaceDoc, type: BlockType, after = doc.stages.length - 1): SpaceDoc {
  const stage: StageDoc = { id: uniqueStageId(doc, type), depth: [1], block: defaultBlock(type) };
  const stages = [...doc.stages];
  stages.splice(Math.min(after + 1, stages.length), 0, stage);
  return withStages(doc, stages);
}

export function removeStage(doc: SpaceDoc, index: number): SpaceDoc {
  if (index < 0 || index >= doc.stages.length) return doc;
  return withStages(doc, doc.stages.filter((_, i) => i !== index));
}

/** Move stage `index` by `delta` places; out-of-range moves are clamped. */
export function moveStage(doc: SpaceDoc, index: number, delta: number): SpaceDoc {
  const to = Math.max(0, Math.min(doc.stages.length - 1, index + delta));
  if (to === index || index < 0 || index >= doc.stages.length) return doc;
  const stages = [...doc.stages];
  const [s] = stages.splice(index, 1);
  stages.splice(to, 0, s!);
  return withStages(doc, stages);
}

export function duplicateStage(doc: SpaceDoc, index: number): SpaceDoc {
  const src = doc.stages[index];
  if (!src) return doc;
  const copy: StageDoc = { ...structuredClone(src), id: uniqueStageId(doc, `${src.id}_copy`) };
  const stages = [...doc.stages];
  stages.splice(index + 1, 0, copy);
  return withStages(doc, stages);
}

export function setBlockType(doc: SpaceDoc, index: number, type: BlockType): SpaceDoc {
  const s = doc.stages[index];
  if (!s || s.block.type === type) return doc;
  return setIn(doc, ['stages', index, 'block'], defaultBlock(type));
}

/** Immutable set at a path; `undefined` deletes the key (so the schema reports a missing field). */
export function setIn<T>(root: T, path: readonly PathKey[], value: unknown): T {
  if (path.length === 0) return value as T;
  const [head, ...rest] = path;
  const src = (root ?? (typeof head === 'number' ? [] : {})) as Record<PathKey, unknown>;
  const child = setIn(src[head!], rest, value);
  if (Array.isArray(src)) {
    const copy = [...src];
    copy[head as number] = child;
    return copy as T;
  }
  const copy: Record<PathKey, unknown> = { ...src };
  if (child === undefined) delete copy[head!];
  else copy[head!] = child;
  return copy as T;
}

export function getIn(root: unknown, path: readonly PathKey[]): unknown {
  let cur = root;
  for (const k of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<PathKey, unknown>)[k];
  }
  return cur;
}

/** `['stages', 1, 'block', 'routing', 'k']` → `stages[1].block.routing.k` (the protocol's issue paths). */
export function pathString(path: readonly PathKey[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out ? `.${p}` : p;
  return out || '(root)';
}

/** Issue paths may be prefixed by where the space sat in the request (`params.space.`, `space.`). */
export function normaliseIssuePath(path: string): string {
  return path.replace(/^(params\.)?space(\.|(?=\[))/, '');
}

/** `"16, 32 64"` → `[16, 32, 64]`; null when a token is not a number. */
export function parseChoices(text: string): number[] | null {
  const tokens = text.split(/[\s,;]+/).filter(Boolean);
  const out: number[] = [];
  for (const t of tokens) {
    const n = Number(t);
    if (!Number.isFinite(n)) return null;
    out.push(n);
  }
  return out;
}

/** Number of extra expert slots (null/zero/copy/constant) of an MoE block, as the heatmap lists them. */
export function extraExperts(b: MoEDoc): number {
  return (b.nullExperts ?? 0) + (b.zeroExperts ?? 0) + (b.copyExperts ?? 0) + (b.constantExperts ?? 0);
}

export function stageSummary(s: StageDoc): string {
  const b = s.block;
  const desc = blockDescriptors[b.type] as unknown as { summary(b: BlockDoc): string } | undefined;
  return `${desc ? desc.summary(b) : String(b.type)} · depth ${(s.depth ?? []).join('/')}`;
}
