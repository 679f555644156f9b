import { describe, expect, it } from 'vitest';
import { TRAINING_STRATEGY_NAMES } from '../../protocol/strategyNames.js';
import { Strategy } from '../../protocol/protocol.js';
import { archKey, largestArch, smallestArch } from '../../space/archCodec.js';
import { listExampleSpaces } from '../../space/exampleSpaces.js';
import { SearchSpace } from '../../space/SearchSpace.js';
import { createRng } from '../../space/rng.js';
import { trainingStrategies } from './registry.js';
import type { StrategyContext } from './TrainingStrategy.js';

function ctx(seed = 3): StrategyContext {
  const space = SearchSpace.parse(listExampleSpaces().find((e) => e.id === 'spirals-moe')!.space);
  return { space, rng: createRng(seed), evalArch: largestArch(space), largest: largestArch(space), smallest: smallestArch(space), step: 0, steps: 100, progress: 0, state: undefined };
}

describe('training strategy registry', () => {
  it('has exactly one module per name the protocol accepts, and the schema takes exactly those names', () => {
    expect(Object.keys(trainingStrategies).sort()).toEqual([...TRAINING_STRATEGY_NAMES].sort());
    for (const [name, s] of Object.entries(trainingStrategies)) expect(s.name).toBe(name);
    expect(Strategy.options).toEqual(TRAINING_STRATEGY_NAMES);
  });

  it('plain trains the evaluated subnet only', async () => {
    const c = ctx();
    expect(await trainingStrategies.plain.plan(c)).toEqual({ arches: [c.evalArch], reported: 0 });
  });

  it('spos draws one subnet from the sampler RNG (the same seed, the same subnets)', async () => {
    const a = ctx(5);
    const b = ctx(5);
    const keysA: string[] = [];
    const keysB: string[] = [];
    for (let i = 0; i < 20; i++) keysA.push(archKey((await trainingStrategies.spos.plan(a)).arches[0]!));
    for (let i = 0; i < 20; i++) keysB.push(archKey((await trainingStrategies.spos.plan(b)).arches[0]!));
    expect(keysA).toEqual(keysB);
    expect(new Set(keysA).size).toBeGreaterThan(3);
  });

  it('sandwich trains largest, smallest and two random subnets, reporting a random one', async () => {
    const c = ctx();
    const p = await trainingStrategies.sandwich.plan(c);
    expect(p.arches).toHaveLength(4);
    expect(archKey(p.arches[0]!)).toBe(archKey(c.largest));
    expect(archKey(p.arches[1]!)).toBe(archKey(c.smallest));
    expect(p.reported).toBe(2);
  });
});
