import { createRng } from '../../space/rng.js';
import { randomVector } from '../nsga2.js';
import type { SearchStrategy } from './SearchStrategy.js';

/**
 * Random search: per generation `population` distinct canonical subnets never seen before (the
 * baseline of Li & Talwalkar, 2019, that weight-sharing NAS must beat); generation 0 starts with the
 * largest and smallest subnet.
 */
export const random: SearchStrategy = {
  name: 'random',
  run: async ({ problem, config, initial, endGeneration }) => {
    const rng = createRng(config.seed);
    const seen = new Set<string>();
    const canonical = problem.canonical ?? ((x: readonly number[]) => [...x]);
    for (let g = 0; g <= config.generations; g++) {
      const batch: number[][] = g === 0 ? initial.slice() : [];
      for (const x of batch) seen.add(x.join(','));
      for (let tries = 0; batch.length < config.population && tries < 100 * config.population; tries++) {
        const x = canonical(randomVector(problem.variables, rng));
        if (seen.has(x.join(','))) continue;
        seen.add(x.join(','));
        batch.push(x);
      }
      for (const x of batch) await problem.evaluate(x, { generation: g });
      await endGeneration(g);
    }
  },
};
