import { runNsga2 } from '../nsga2.js';
import type { SearchStrategy } from './SearchStrategy.js';

/** NSGA-II (Deb et al., 2002) with constraint-domination; the operators are in ../nsga2.ts. */
export const nsga2: SearchStrategy = {
  name: 'nsga2',
  run: ({ problem, config, initial, signal, endGeneration }) =>
    runNsga2(problem, {
      populationSize: config.population,
      generations: config.generations,
      seed: config.seed,
      initial,
      signal,
      onGeneration: (g) => endGeneration(g),
    }).then(() => undefined),
};
