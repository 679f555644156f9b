/**
 * Shared fixtures of the strategy tests: a small two-stage dense space on 3-class spirals and a strategy
 * context to call hooks directly (not a test file; nothing outside tests imports it).
 */
import * as tf from '@tensorflow/tfjs';
import { loadDataset, type Dataset } from '../../data/Dataset.js';
import { largestArch, smallestArch } from '../../space/archCodec.js';
import { createRng } from '../../space/rng.js';
import { SearchSpace } from '../../space/SearchSpace.js';
import type { StrategyContext } from './TrainingStrategy.js';

export const SPIRALS = { kind: 'spirals', classes: 3, samples: 300, noise: 0.2, seed: 1 } as const;

/** The cpu backend and the spirals dataset (call in beforeAll). */
export async function loadSpirals(): Promise<Dataset> {
  await tf.setBackend('cpu');
  return loadDataset(SPIRALS);
}

/** s1: one dense block of `s1Widths`; s2: one or two dense blocks of width 4 or 8 with `s2Ops`. */
export function twoStageSpace(s1Widths: number[] = [8, 16], s2Ops: ('dense' | 'identity')[] = ['dense', 'identity']): SearchSpace {
  return SearchSpace.parse({
    version: 1,
    name: 'strategy test',
    input: { kind: 'vector', dim: 2 },
    numClasses: 3,
    stages: [
      { id: 's1', depth: [1], block: { type: 'dense', width: s1Widths } },
      { id: 's2', depth: [1, 2], block: { type: 'dense', width: [4, 8], ops: s2Ops } },
    ],
  });
}

/** A context at `step` of `steps` whose RNG is seeded with `seed`. */
export function strategyContext<S>(space: SearchSpace, state: S, step: number, seed: number, steps = 100): StrategyContext<S> {
  return { space, rng: createRng(seed), evalArch: largestArch(space), largest: largestArch(space), smallest: smallestArch(space), step, steps, progress: step / steps, state };
}
