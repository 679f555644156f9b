import { describe, expect, it } from 'vitest';
import { SearchConfig } from '../../protocol/protocol.js';
import { SEARCH_STRATEGY_NAMES } from '../../protocol/strategyNames.js';
import type { Nsga2Problem } from '../nsga2.js';
import { searchStrategies } from './registry.js';
import { excess, type SearchRun } from './SearchStrategy.js';

/** A 3-gene categorical problem whose last gene is irrelevant when the first is 0 (like depth). */
function problem(log: { x: number[]; generation: number }[]): Nsga2Problem {
  return {
    variables: { kind: 'categorical', dims: [2, 3, 4] },
    signs: [1, 1],
    canonical: (x) => (x[0] === 0 ? [0, x[1]!, 0] : [...x]),
    evaluate: (x, c) => {
      log.push({ x: [...x], generation: c.generation });
      return { objectives: [x[1]!, x[2]!], violation: 0 };
    },
  };
}

function run(strategy: keyof typeof searchStrategies, overrides: Partial<SearchRun> = {}) {
  const log: { x: number[]; generation: number }[] = [];
  const ends: number[] = [];
  const config = SearchConfig.parse({ runId: 'r', strategy, population: 4, generations: 2, objectives: ['accuracy', 'params'] });
  const search: SearchRun = {
    problem: problem(log),
    config,
    initial: [[1, 2, 3], [0, 0, 0]],
    signal: new AbortController().signal,
    endGeneration: async (g) => void ends.push(g),
    cheapValue: async () => 1,
    ...overrides,
  };
  return { log, ends, done: searchStrategies[strategy].run(search) };
}

describe('search strategy registry', () => {
  it('has exactly one module per name the schema accepts', () => {
    expect(Object.keys(searchStrategies).sort()).toEqual([...SEARCH_STRATEGY_NAMES].sort());
    for (const [name, s] of Object.entries(searchStrategies)) expect(s.name).toBe(name);
    expect(SearchConfig.shape.strategy.unwrap().options).toEqual(SEARCH_STRATEGY_NAMES);
  });

  it('random evaluates the initial subnets first, then distinct canonical subnets, ending every generation', async () => {
    const { log, ends, done } = run('random');
    await done;
    expect(log.slice(0, 2).map((e) => e.x)).toEqual([[1, 2, 3], [0, 0, 0]]);
    const keys = log.map((e) => e.x.join(','));
    expect(new Set(keys).size).toBe(keys.length);
    for (const e of log) if (e.x[0] === 0) expect(e.x[2]).toBe(0); // canonical: no stray gene under "depth 0"
    expect(ends).toEqual([0, 1, 2]);
    expect(log.filter((e) => e.generation === 1)).toHaveLength(4);
  });

  it('nsga2 and evolution run through the same seam and report generations', async () => {
    for (const name of ['nsga2', 'evolution'] as const) {
      const { log, ends, done } = run(name);
      await done;
      expect(log.length).toBeGreaterThan(2);
      expect(ends.length).toBeGreaterThan(0);
    }
  });

  it('normalises constraint excess by the limit, so ms and parameter counts add up comparably', () => {
    expect(excess(12, 10)).toBeCloseTo(0.2);
    expect(excess(1_200_000, 1_000_000)).toBeCloseTo(0.2);
    expect(excess(9, 10)).toBe(0);
  });
});
