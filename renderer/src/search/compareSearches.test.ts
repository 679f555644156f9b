import { describe, expect, it } from 'vitest';
import type { EvaluatedSubnet, SearchSummary } from '../../../core/protocol/protocol.js';
import { sameScale, searchRows } from './compareSearches.js';

const sub = (id: number, accuracy: number, latencyMs: number): EvaluatedSubnet => ({
  id, arch: { stages: [] }, vector: [], accuracy, split: 'val', n: 5000, ci95: [accuracy - 0.01, accuracy + 0.01],
  latencyMs, params: 1, flops: 1, generation: 0, feasible: true,
});

function search(id: string, over: Partial<SearchSummary> = {}): SearchSummary {
  return {
    id, runId: 'r', status: 'completed',
    config: { runId: 'r', strategy: 'nsga2', objectives: ['accuracy', 'latency'], population: 4, generations: 1, constraints: [], evalSamples: 5000, seed: 1 },
    evaluated: [sub(0, 0.85, 0.4), sub(1, 0.82, 0.2), sub(2, 0.8, 0.3)], front: [0, 1],
    hypervolume: [{ generation: 0, value: 0.1 }, { generation: 1, value: 0.2 }],
    hvScale: { scales: { latency: 0.41 }, ref: { accuracy: 1, latency: 1.1 } },
    ...over,
  };
}

describe('search comparison', () => {
  it('marks searches on the run scale with the same objectives as comparable', () => {
    const a = search('a');
    const b = search('b', { config: { ...a.config, strategy: 'evolution' } });
    const c = search('c', { config: { ...a.config, objectives: ['accuracy', 'params'] }, hvScale: { scales: { params: 9 }, ref: {} } });
    const old = search('old', { hvScale: undefined }); // from before run-level scales: its own timing
    const other = search('other', { hvScale: { scales: { latency: 0.62 }, ref: {} } });
    expect(sameScale(a, b)).toBe(true);
    expect(sameScale(a, c)).toBe(false);
    expect(sameScale(a, old)).toBe(false);
    expect(sameScale(a, other)).toBe(false);
    const rows = searchRows([a, b, c, old], a);
    expect(rows.map((r) => r.comparable)).toEqual([true, true, false, false]);
    expect(new Set(rows.map((r) => r.color)).size).toBe(4);
    expect(rows[0]).toMatchObject({ strategy: 'nsga2', front: 2, evaluated: 3, hypervolume: 0.2, best: { id: 0, accuracy: 0.85, split: 'val', n: 5000 } });
    expect(rows[1]!.strategy).toBe('evolution');
  });
});
