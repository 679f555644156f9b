/**
 * Predictor-guided evolution (LINAS, Cummings et al., 2022) and Kendall's τ. The predictor itself (ridge
 * regression on one-hot arch vectors) lives at the space's floor, core/space/accuracyPredictor.ts, so
 * training strategies can use it too; it is re-exported here for search's callers.
 *
 * Predictor-guided search (LINAS): evaluate a few subnets, fit one predictor per expensive objective,
 * run a full inner NSGA-II on the *predicted* objectives (thousands of candidates cost nothing), evaluate
 * the best few of its final population that were not yet measured, refit, repeat.
 */
import { AccuracyPredictor } from '../space/accuracyPredictor.js';
import { createRng } from '../space/rng.js';
import {
  rankAndCrowd,
  randomVector,
  runNsga2,
  type Evaluation,
  type Individual,
  type Nsga2Problem,
} from './nsga2.js';

export { AccuracyPredictor, fitRidge, oneHot, predictRidge, type RidgeModel } from '../space/accuracyPredictor.js';

/** Kendall's τ-b (ties corrected) between two equally long lists. */
export function kendallTau(a: readonly number[], b: readonly number[]): number {
  let concordant = 0;
  let discordant = 0;
  let tiesA = 0;
  let tiesB = 0;
  for (let i = 0; i < a.length; i++) {
    for (let j = i + 1; j < a.length; j++) {
      const da = Math.sign(a[i]! - a[j]!);
      const db = Math.sign(b[i]! - b[j]!);
      if (da === 0 && db === 0) continue;
      if (da === 0) tiesA++;
      else if (db === 0) tiesB++;
      else if (da === db) concordant++;
      else discordant++;
    }
  }
  const denom = Math.sqrt((concordant + discordant + tiesA) * (concordant + discordant + tiesB));
  return denom === 0 ? 0 : (concordant - discordant) / denom;
}

// ---------------------------------------------------------------------------------------------------

export interface PredictorGuidedOptions {
  seed: number;
  /** Random subnets measured before the first fit. */
  initialSamples: number;
  /** Subnets measured per round (the best of the inner search's population). */
  perRound: number;
  rounds: number;
  /** Vectors measured first (e.g. the largest and smallest subnets); they count towards initialSamples. */
  initial?: number[][];
  /** Inner NSGA-II on predicted objectives. */
  innerPopulation?: number;
  innerGenerations?: number;
  /**
   * Objectives that are cheap to compute exactly (e.g. params, or latency from a lookup table): the
   * function returns a value for those indices and undefined for the ones to predict.
   */
  cheapObjectives?(x: readonly number[]): (number | undefined)[] | Promise<(number | undefined)[]>;
  /**
   * Total constraint violation of a candidate, from its objective values (predicted ones inside the
   * inner search) and its vector, so constraints on quantities the search does not optimise (e.g.
   * params under `--max-params` when the objectives are accuracy and latency) are still enforced.
   */
  violationOf?(objectives: readonly number[], x: readonly number[]): number | Promise<number>;
  signal?: AbortSignal;
  /** After the initial samples (round 0) and after each round, with everything measured so far. */
  onRound?(round: number, evaluated: readonly Individual[]): void | Promise<void>;
}

export interface PredictorGuidedResult {
  evaluated: Individual[];
  front: Individual[];
  /** Kendall τ between the predictions made before measuring and the measurements, per round ≥ 1. */
  predictionTau: number[];
}

/**
 * LINAS-style predictor-guided evolution over a categorical problem (Cummings et al. 2022): the
 * expensive `problem.evaluate` is only called for subnets the predictors rank best.
 */
export async function runPredictorGuidedSearch(problem: Nsga2Problem, opts: PredictorGuidedOptions): Promise<PredictorGuidedResult> {
  if (problem.variables.kind !== 'categorical') throw new Error('predictor-guided search works on categorical vectors');
  const dims = problem.variables.dims;
  const rng = createRng(opts.seed);
  const canonical = (x: readonly number[]) => (problem.canonical ? problem.canonical(x) : x.slice());
  const keyOf = (x: readonly number[]) => canonical(x).join(',');
  const evaluated: Individual[] = [];
  const seen = new Set<string>();
  const predictionTau: number[] = [];

  const measure = async (x: number[], generation: number) => {
    opts.signal?.throwIfAborted();
    const e: Evaluation = await problem.evaluate(x, { generation });
    seen.add(keyOf(x));
    const ind: Individual = { x, objectives: e.objectives, violation: Math.max(0, e.violation ?? 0), rank: 0, crowding: 0, generation };
    evaluated.push(ind);
    return ind;
  };

  const first: number[][] = [];
  const firstKeys = new Set<string>();
  for (const x of opts.initial ?? []) {
    if (!firstKeys.has(keyOf(x))) {
      firstKeys.add(keyOf(x));
      first.push(x.slice());
    }
  }
  for (let tries = 0; first.length < opts.initialSamples && tries < 100 * opts.initialSamples; tries++) {
    const x = randomVector(problem.variables, rng);
    if (firstKeys.has(keyOf(x))) continue;
    firstKeys.add(keyOf(x));
    first.push(x);
  }
  for (const x of first) await measure(x, 0);
  rankAndCrowd(evaluated, problem.signs);
  await opts.onRound?.(0, evaluated);

  for (let round = 1; round <= opts.rounds; round++) {
    const m = evaluated[0]!.objectives.length;
    const predictors = Array.from({ length: m }, () => new AccuracyPredictor(dims, canonical));
    const xs = evaluated.map((e) => e.x);
    predictors.forEach((p, k) => p.fit(xs, evaluated.map((e) => e.objectives[k]!)));
    const predict = async (x: readonly number[]) => {
      const cheap = await opts.cheapObjectives?.(x);
      return predictors.map((p, k) => cheap?.[k] ?? p.predict(x));
    };

    const inner = await runNsga2(
      {
        variables: problem.variables,
        signs: problem.signs,
        canonical: problem.canonical,
        evaluate: async (x) => {
          // Constraint-domination (Deb et al. 2002 §IV-A) inside the inner NSGA-II too: infeasible
          // candidates rank behind feasible ones, so the subnets picked for measuring are feasible.
          const objectives = await predict(x);
          return { objectives, violation: (await opts.violationOf?.(objectives, x)) ?? 0 };
        },
      },
      {
        populationSize: opts.innerPopulation ?? 64,
        generations: opts.innerGenerations ?? 25,
        seed: rng.int(2 ** 31),
        // Seeding with the measured front keeps the inner search from forgetting what is known to work.
        initial: evaluated.filter((e) => e.rank === 0).map((e) => e.x),
        signal: opts.signal,
      },
    );
    const candidates = inner.population
      .filter((c) => !seen.has(keyOf(c.x)))
      .sort((a, b) => a.rank - b.rank || b.crowding - a.crowding);
    const picked: number[][] = [];
    const pickedKeys = new Set<string>();
    for (const c of candidates) {
      if (picked.length >= opts.perRound) break;
      if (pickedKeys.has(keyOf(c.x))) continue;
      pickedKeys.add(keyOf(c.x));
      picked.push(c.x);
    }
    // The inner search may collapse onto measured subnets in a small space; fill with fresh random ones.
    for (let tries = 0; picked.length < opts.perRound && tries < 100 * opts.perRound; tries++) {
      const x = randomVector(problem.variables, rng);
      if (seen.has(keyOf(x)) || pickedKeys.has(keyOf(x))) continue;
      pickedKeys.add(keyOf(x));
      picked.push(x);
    }
    if (picked.length === 0) break;
    const predicted: number[] = [];
    for (const x of picked) predicted.push((await predict(x))[0]!);
    const measured: number[] = [];
    for (const x of picked) measured.push((await measure(x, round)).objectives[0]!);
    if (picked.length > 2) predictionTau.push(kendallTau(predicted, measured));
    rankAndCrowd(evaluated, problem.signs);
    await opts.onRound?.(round, evaluated);
  }
  rankAndCrowd(evaluated, problem.signs);
  return { evaluated, front: evaluated.filter((e) => e.rank === 0), predictionTau };
}
