import { describe, expect, it } from 'vitest';
import type { RunSummary } from '../../../core/protocol/protocol.js';
import { filterRuns, parseTags, RUN_COLORS, runColor, sortRunsBy } from './runTable.js';

const run = (id: string, extra: Partial<RunSummary> = {}): RunSummary => ({
  id, name: `Spirals MoE · ${id}`, createdAt: `2026-01-0${id.length}`, status: 'completed', strategy: 'spos', step: 10, steps: 10,
  backend: 'cpu', device: 'cpu', spaceName: 'Spirals MoE', dataKind: 'spirals', lastLoss: null, lastAccuracy: null, bestValAccuracy: null, ...extra,
});

describe('run table', () => {
  it('gives every run a stable colour from the palette', () => {
    expect(runColor('20260101-a')).toBe(runColor('20260101-a'));
    expect(RUN_COLORS).toContain(runColor('x'));
    const colours = new Set(Array.from({ length: 40 }, (_, i) => runColor(`run-${i}`)));
    expect(colours.size).toBeGreaterThan(6);
  });

  it('filters by a case-insensitive regex over name, tags and fields, falling back to text', () => {
    const runs = [run('a', { tags: ['baseline'] }), run('bb', { dataKind: 'gaussians' }), run('ccc', { name: 'wide (x' })];
    expect(filterRuns(runs, 'GAUSS|#baseline').runs.map((r) => r.id)).toEqual(['a', 'bb']);
    expect(filterRuns(runs, '^spirals moe · c').runs).toEqual([]);
    const bad = filterRuns(runs, 'wide (');
    expect(bad.regex).toBe(false);
    expect(bad.runs.map((r) => r.id)).toEqual(['ccc']);
    expect(filterRuns(runs, '').runs.length).toBe(3);
  });

  it('sorts by a column, missing values last', () => {
    const runs = [run('a', { bestValAccuracy: 0.5 }), run('bb', { bestValAccuracy: null }), run('ccc', { bestValAccuracy: 0.9, finalVal: { split: 'val', accuracy: 0.8, n: 10, ci95: [0.5, 0.9] } })];
    expect(sortRunsBy(runs, 'bestVal', 'desc').map((r) => r.id)).toEqual(['ccc', 'a', 'bb']);
    expect(sortRunsBy(runs, 'bestVal', 'asc').map((r) => r.id)).toEqual(['a', 'ccc', 'bb']);
    expect(sortRunsBy(runs, 'createdAt', 'asc').map((r) => r.id)).toEqual(['a', 'bb', 'ccc']);
    expect(sortRunsBy(runs, 'name', 'desc').map((r) => r.id)).toEqual(['ccc', 'bb', 'a']);
  });

  it('parses tags from commas or spaces', () => {
    expect(parseTags(' baseline, #moe  wide,moe ')).toEqual(['baseline', 'moe', 'wide']);
    expect(parseTags('')).toEqual([]);
  });
});
