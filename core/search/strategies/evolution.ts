import { runPredictorGuidedSearch } from '../accuracyPredictor.js';
import { excess, type SearchStrategy } from './SearchStrategy.js';

/**
 * Predictor-guided evolution (LINAS, Cummings et al., 2022): params and FLOPs are exact and free, latency
 * comes from the fitted table, and only accuracy needs the learnt predictor; the inner search honours
 * every constraint, also on objectives the search does not optimise (--max-params with accuracy vs latency).
 */
export const evolution: SearchStrategy = {
  name: 'evolution',
  run: async ({ problem, config, initial, signal, endGeneration, cheapValue }) => {
    const objs = config.objectives;
    await runPredictorGuidedSearch(problem, {
      seed: config.seed,
      initialSamples: config.population,
      perRound: config.population,
      rounds: config.generations,
      initial,
      signal,
      cheapObjectives: (x) => Promise.all(objs.map((o) => cheapValue(o, x))),
      violationOf: async (objectives, x) => {
        let sum = 0;
        for (const c of config.constraints) {
          const i = objs.indexOf(c.objective);
          const v = i >= 0 ? objectives[i] : await cheapValue(c.objective, x);
          if (v !== undefined) sum += excess(v, c.max);
        }
        return sum;
      },
      onRound: (round) => endGeneration(round),
    });
  },
};
