import { describe, expect, it } from 'vitest';
import { routingDescriptors } from '../../../core/space/routing/registry.js';
import { SearchSpace } from '../../../core/space/SearchSpace.js';
import {
  addStage,
  defaultBlock,
  defaultRouting,
  duplicateStage,
  getIn,
  moveStage,
  newSpace,
  normaliseIssuePath,
  parseChoices,
  pathString,
  removeStage,
  ROUTING_MODES,
  setBlockType,
  setIn,
  stageSummary,
} from './spaceEdits.js';

describe('space edits', () => {
  it('adds, duplicates, moves and removes stages with unique ids, never mutating the input', () => {
    const a = newSpace();
    const frozen = JSON.stringify(a);
    const b = addStage(a, 'moe');
    const c = addStage(b, 'moe', 0);
    expect(c.stages.map((s) => s.id)).toEqual(['hidden', 'moe2', 'moe']);
    const d = duplicateStage(c, 2);
    expect(d.stages.map((s) => s.id)).toEqual(['hidden', 'moe2', 'moe', 'moe_copy']);
    expect(d.stages[3]!.block).toEqual(d.stages[2]!.block);
    expect(d.stages[3]!.block).not.toBe(d.stages[2]!.block);
    const e = moveStage(d, 3, -3);
    expect(e.stages.map((s) => s.id)).toEqual(['moe_copy', 'hidden', 'moe2', 'moe']);
    expect(moveStage(e, 0, -1)).toBe(e);
    const f = removeStage(e, 1);
    expect(f.stages.map((s) => s.id)).toEqual(['moe_copy', 'moe2', 'moe']);
    expect(JSON.stringify(a)).toBe(frozen);
  });

  it('builds default blocks, routings and spaces the core schema accepts', () => {
    let doc = newSpace();
    for (const t of ['dense', 'conv', 'moe'] as const) expect(defaultBlock(t).type).toBe(t);
    doc = addStage(doc, 'moe');
    for (const mode of ROUTING_MODES) {
      const withMode = setIn(doc, ['stages', 1, 'block', 'routing'], defaultRouting(mode));
      expect(SearchSpace.safeParse(withMode).success).toBe(true);
    }
    // The menu is the core's registry: every registered router (MixER, RMoE, …) appears without an editor
    // edit, in registration order, and the editor offers nothing the registry lacks.
    expect(ROUTING_MODES).toEqual(Object.keys(routingDescriptors));
    expect(ROUTING_MODES).toContain('mixer');
    expect(stageSummary(setIn(doc, ['stages', 1, 'block', 'routing'], defaultRouting('mixer')).stages[1]!)).toContain('MixER top-1');
    const conv = setBlockType(doc, 0, 'conv');
    expect(conv.stages[0]!.block.type).toBe('conv');
    expect(setBlockType(conv, 0, 'conv')).toBe(conv);
  });

  it('sets and deletes values at paths immutably', () => {
    const doc = addStage(newSpace(), 'moe');
    const k0 = setIn(doc, ['stages', 1, 'block', 'routing', 'k'], 0);
    expect(getIn(k0, ['stages', 1, 'block', 'routing', 'k'])).toBe(0);
    expect(getIn(doc, ['stages', 1, 'block', 'routing', 'k'])).toBe(2);
    expect(k0.stages[0]).toBe(doc.stages[0]);
    const r = SearchSpace.safeParse(k0);
    expect(r.success).toBe(false);
    expect(r.error!.issues[0]!.path).toEqual(['stages', 1, 'block', 'routing', 'k']);
    const gone = setIn(doc, ['stages', 1, 'block', 'experts'], undefined);
    expect('experts' in gone.stages[1]!.block).toBe(false);
  });

  it('formats and normalises issue paths the way the protocol writes them', () => {
    expect(pathString(['stages', 1, 'block', 'routing', 'k'])).toBe('stages[1].block.routing.k');
    expect(pathString([])).toBe('(root)');
    expect(normaliseIssuePath('params.space.stages[1].block.k')).toBe('stages[1].block.k');
    expect(normaliseIssuePath('space.name')).toBe('name');
    expect(normaliseIssuePath('stages[0].depth')).toBe('stages[0].depth');
  });

  it('parses choice lists and rejects non-numbers', () => {
    expect(parseChoices('16, 32 64;128')).toEqual([16, 32, 64, 128]);
    expect(parseChoices('')).toEqual([]);
    expect(parseChoices('16, x')).toBeNull();
  });

  it('summarises a stage in one line', () => {
    const doc = addStage(newSpace(), 'moe');
    expect(stageSummary(doc.stages[1]!)).toBe('moe · 4 experts · top-2 · depth 1');
    expect(stageSummary(doc.stages[0]!)).toBe('dense · width 32/64 · depth 1/2');
  });
});
