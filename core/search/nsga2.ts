/**
 * NSGA-II (Deb, Pratap, Agarwal & Meyarivan, IEEE TEC 2002), generic over the problem:
 * - real-valued vectors: simulated binary crossover (SBX, Deb & Agrawal 1995) and polynomial mutation,
 *   in the bounded forms of Deb's reference C implementation (nsga2-v1.1);
 * - integer / categorical vectors (an encoded subnet: gene i takes one of `dims[i]` choices): uniform
 *   crossover and per-gene resampling, the operators used for weight-sharing NAS by OFA (Cai et al. 2020)
 *   and DyNAS-T (Cummings et al. 2022);
 * - constraint-domination (§IV-A) for infeasible solutions (`violation > 0`);
 * - mating and duplicate elimination as pymoo (Blank & Deb 2020; pymoo/core/infill.py, duplicate.py,
 *   algorithms/moo/nsga2.py) does by default: binary tournaments over random permutations of the
 *   population (each member enters about equally many), compared on violation, then rank, then
 *   crowding; offspring equal to a population member or to each other are dropped and mating repeats
 *   (at most 100 rounds); polynomial mutation touches each child with probability 0.9 and each
 *   variable with min(0.5, 1/n);
 * - a seeded RNG, so one seed gives one run.
 *
 * Evaluations may be asynchronous (a subnet is measured on an accelerator); the run checks an
 * AbortSignal between evaluations and reports each generation through `onGeneration`.
 */
import { createRng, type Rng } from '../space/rng.js';
import { crowdingDistance, nonDominatedSort, type ObjectiveSigns } from './paretoFront.js';

export type Variables =
  | { kind: 'real'; lower: readonly number[]; upper: readonly number[] }
  /** Gene i is an integer in [0, dims[i]). */
  | { kind: 'categorical'; dims: readonly number[] };

export interface Evaluation {
  objectives: number[];
  /** Total constraint violation; 0 (or absent) means feasible. */
  violation?: number;
}

export interface EvaluationContext {
  generation: number;
}

export interface Nsga2Problem {
  variables: Variables;
  /** +1 minimise, −1 maximise, per objective (default: minimise all). */
  signs?: ObjectiveSigns;
  /**
   * Categorical problems: map a vector to the canonical one of its equivalence class (an arch vector's
   * genes beyond the chosen depth do not matter), so de-duplication sees two encodings of one subnet as
   * the same. The individual keeps its own genes; only the key uses the canonical form.
   */
  canonical?(x: readonly number[]): number[];
  evaluate(x: number[], ctx: EvaluationContext): Evaluation | Promise<Evaluation>;
}

export interface Individual {
  x: number[];
  objectives: number[];
  violation: number;
  /** Front index in the last sort, 0 = non-dominated. */
  rank: number;
  crowding: number;
  /** Generation in which it was created. */
  generation: number;
}

export interface Nsga2Options {
  populationSize: number;
  generations: number;
  seed: number;
  /** Probability that a pair of parents is recombined (Deb et al. use 0.9). */
  crossoverProb?: number;
  /** SBX distribution index (larger: children closer to parents). */
  etaC?: number;
  /** Polynomial-mutation distribution index. */
  etaM?: number;
  /** Per-gene mutation probability (default min(0.5, 1/n), pymoo's PM `prob_var`). */
  mutationProb?: number;
  /** Real problems: probability that a child is mutated at all (default 0.9, pymoo's PM `prob`). */
  mutationChildProb?: number;
  /** Individuals placed in the initial population before the random ones (e.g. largest/smallest subnet). */
  initial?: number[][];
  /**
   * Drop offspring equal to a population member or to another offspring and mate again (pymoo's
   * `eliminate_duplicates=True`; default on). Categorical vectors compare by their canonical form and
   * are also dropped when equal to any vector evaluated before (a subnet measured twice adds nothing);
   * real vectors compare exactly (pymoo's tolerance is a distance of 1e-16).
   */
  eliminateDuplicates?: boolean;
  signal?: AbortSignal;
  /** Called after generation 0 (the initial population) and after each survival selection. */
  onGeneration?(generation: number, population: readonly Individual[], evaluations: number): void | Promise<void>;
}

export interface Nsga2Result {
  population: Individual[];
  /** Rank-0 members of the final population. */
  front: Individual[];
  evaluations: number;
}

// ---------------------------------------------------------------------------------------------------
// Variation operators.

/** SBX on one pair of real vectors, bounded form (Deb's nsga2 C code, `realcross`). */
export function sbxCrossover(
  p1: readonly number[],
  p2: readonly number[],
  lower: readonly number[],
  upper: readonly number[],
  eta: number,
  rng: Rng,
): [number[], number[]] {
  const c1 = p1.slice();
  const c2 = p2.slice();
  for (let i = 0; i < p1.length; i++) {
    if (rng.next() > 0.5) continue;
    if (Math.abs(p1[i]! - p2[i]!) <= 1e-14) continue;
    const y1 = Math.min(p1[i]!, p2[i]!);
    const y2 = Math.max(p1[i]!, p2[i]!);
    const yl = lower[i]!;
    const yu = upper[i]!;
    const u = rng.next();
    const betaq = (beta: number) => {
      const alpha = 2 - Math.pow(beta, -(eta + 1));
      return u <= 1 / alpha ? Math.pow(u * alpha, 1 / (eta + 1)) : Math.pow(1 / (2 - u * alpha), 1 / (eta + 1));
    };
    let a = 0.5 * (y1 + y2 - betaq(1 + (2 * (y1 - yl)) / (y2 - y1)) * (y2 - y1));
    let b = 0.5 * (y1 + y2 + betaq(1 + (2 * (yu - y2)) / (y2 - y1)) * (y2 - y1));
    a = Math.min(Math.max(a, yl), yu);
    b = Math.min(Math.max(b, yl), yu);
    if (rng.next() <= 0.5) [a, b] = [b, a];
    c1[i] = a;
    c2[i] = b;
  }
  return [c1, c2];
}

/** Polynomial mutation, bounded form (Deb's nsga2 C code, `real_mutate_ind`), in place. */
export function polynomialMutation(
  x: number[],
  lower: readonly number[],
  upper: readonly number[],
  eta: number,
  prob: number,
  rng: Rng,
): number[] {
  for (let i = 0; i < x.length; i++) {
    if (rng.next() > prob) continue;
    const yl = lower[i]!;
    const yu = upper[i]!;
    if (yu <= yl) continue;
    const y = x[i]!;
    const d1 = (y - yl) / (yu - yl);
    const d2 = (yu - y) / (yu - yl);
    const u = rng.next();
    const pow = 1 / (eta + 1);
    let dq: number;
    if (u <= 0.5) {
      const v = 2 * u + (1 - 2 * u) * Math.pow(1 - d1, eta + 1);
      dq = Math.pow(v, pow) - 1;
    } else {
      const v = 2 * (1 - u) + 2 * (u - 0.5) * Math.pow(1 - d2, eta + 1);
      dq = 1 - Math.pow(v, pow);
    }
    x[i] = Math.min(Math.max(y + dq * (yu - yl), yl), yu);
  }
  return x;
}

/** Uniform crossover: each gene comes from either parent with probability ½. */
export function uniformCrossover(p1: readonly number[], p2: readonly number[], rng: Rng): [number[], number[]] {
  const c1 = p1.slice();
  const c2 = p2.slice();
  for (let i = 0; i < p1.length; i++) {
    if (rng.next() < 0.5) {
      c1[i] = p2[i]!;
      c2[i] = p1[i]!;
    }
  }
  return [c1, c2];
}

/** Per-gene resampling: with probability `prob` a gene takes a uniformly drawn *other* choice. In place. */
export function resampleMutation(x: number[], dims: readonly number[], prob: number, rng: Rng): number[] {
  for (let i = 0; i < x.length; i++) {
    if (dims[i]! > 1 && rng.next() < prob) x[i] = resampleGene(x[i]!, dims[i]!, rng);
  }
  return x;
}

function resampleGene(current: number, dim: number, rng: Rng): number {
  const r = rng.int(dim - 1);
  return r >= current ? r + 1 : r;
}

export function randomVector(variables: Variables, rng: Rng): number[] {
  if (variables.kind === 'real') {
    return variables.lower.map((lo, i) => lo + rng.next() * (variables.upper[i]! - lo));
  }
  return variables.dims.map((d) => rng.int(d));
}

// ---------------------------------------------------------------------------------------------------
// Selection.

/** Assign rank and crowding distance to every individual of `pool` (in place). */
export function rankAndCrowd(pool: Individual[], signs?: ObjectiveSigns): number[][] {
  const fronts = nonDominatedSort(
    pool.map((p) => p.objectives),
    signs,
    pool.map((p) => p.violation),
  );
  // Crowding works on sign-adjusted objectives so that its ordering matches dominance.
  const adjusted = pool.map((p) => p.objectives.map((v, i) => v * (signs && signs[i]! < 0 ? -1 : 1)));
  fronts.forEach((front, r) => {
    const cd = crowdingDistance(adjusted, front);
    front.forEach((idx, j) => {
      pool[idx]!.rank = r;
      pool[idx]!.crowding = cd[j]!;
    });
  });
  return fronts;
}

/**
 * Elitist survival (§III-C): fill by whole fronts, cut the last one by crowding distance (ties in
 * random order when an RNG is given, as pymoo's randomized argsort does).
 */
export function selectSurvivors(pool: Individual[], n: number, signs?: ObjectiveSigns, rng?: Rng): Individual[] {
  const fronts = rankAndCrowd(pool, signs);
  const next: Individual[] = [];
  for (const front of fronts) {
    if (next.length + front.length <= n) {
      for (const i of front) next.push(pool[i]!);
    } else {
      const members = front.map((i) => pool[i]!);
      const rest = (rng ? rng.shuffle(members) : members).sort((a, b) => b.crowding - a.crowding);
      next.push(...rest.slice(0, n - next.length));
    }
    if (next.length >= n) break;
  }
  return next;
}

/**
 * pymoo's NSGA-II `binary_tournament`: if either is infeasible the smaller violation wins; otherwise
 * the lower rank, then the larger crowding distance; ties are broken at random.
 */
export function binaryTournament(a: Individual, b: Individual, rng: Rng): Individual {
  if (a.violation > 0 || b.violation > 0) {
    if (a.violation !== b.violation) return a.violation < b.violation ? a : b;
  } else {
    if (a.rank !== b.rank) return a.rank < b.rank ? a : b;
    if (a.crowding !== b.crowding) return a.crowding > b.crowding ? a : b;
  }
  return rng.next() < 0.5 ? a : b;
}

/**
 * Parents for `matings` matings, two per mating, each the winner of a binary tournament whose
 * contestants are drawn from concatenated random permutations of the population (pymoo's
 * TournamentSelection), so every member enters about equally many tournaments.
 */
export function selectParents(pop: readonly Individual[], matings: number, rng: Rng): [Individual, Individual][] {
  const need = matings * 2 * 2;
  const idx: number[] = [];
  while (idx.length < need) idx.push(...rng.shuffle(Array.from({ length: pop.length }, (_, i) => i)));
  const winners: Individual[] = [];
  for (let t = 0; t < matings * 2; t++) winners.push(binaryTournament(pop[idx[2 * t]!]!, pop[idx[2 * t + 1]!]!, rng));
  return Array.from({ length: matings }, (_, m) => [winners[2 * m]!, winners[2 * m + 1]!]);
}

// ---------------------------------------------------------------------------------------------------
// The loop.

/** Variation settings resolved from Nsga2Options. */
export interface VariationOptions {
  crossoverProb: number;
  etaC: number;
  etaM: number;
  mutationProb: number;
  mutationChildProb: number;
  eliminateDuplicates: boolean;
}

/** pymoo's InfillCriterion gives up filling the offspring after this many mating rounds. */
export const MAX_MATING_ROUNDS = 100;

/** One mating: crossover with probability `crossoverProb`, then mutation of both children. */
function mate(a: readonly number[], b: readonly number[], variables: Variables, opts: VariationOptions, rng: Rng): [number[], number[]] {
  let c1: number[];
  let c2: number[];
  if (variables.kind === 'real') {
    [c1, c2] = rng.next() < opts.crossoverProb ? sbxCrossover(a, b, variables.lower, variables.upper, opts.etaC, rng) : [a.slice(), b.slice()];
    for (const c of [c1, c2]) {
      if (rng.next() < opts.mutationChildProb) polynomialMutation(c, variables.lower, variables.upper, opts.etaM, opts.mutationProb, rng);
    }
  } else {
    [c1, c2] = rng.next() < opts.crossoverProb ? uniformCrossover(a, b, rng) : [a.slice(), b.slice()];
    resampleMutation(c1, variables.dims, opts.mutationProb, rng);
    resampleMutation(c2, variables.dims, opts.mutationProb, rng);
  }
  return [c1, c2];
}

/**
 * Offspring of a ranked population (pymoo's mating loop): tournaments, crossover, mutation; with
 * duplicate elimination, children whose key equals a parent-population member's, an earlier child's
 * or (categorical) one in `seen` are dropped and another round of matings fills the gap, for at most
 * MAX_MATING_ROUNDS rounds (a tiny space may then yield fewer than `count`). Keys of kept children
 * are added to `seen`.
 */
export function makeOffspring(
  parents: readonly Individual[],
  count: number,
  variables: Variables,
  opts: VariationOptions,
  seen: Set<string>,
  rng: Rng,
  canonical: (x: readonly number[]) => readonly number[] = (x) => x,
): number[][] {
  const key = (x: readonly number[]) => canonical(x).join(',');
  const taken = new Set(parents.map((p) => key(p.x)));
  const out: number[][] = [];
  for (let round = 0; out.length < count && round < MAX_MATING_ROUNDS; round++) {
    const matings = Math.ceil((count - out.length) / 2);
    for (const [a, b] of selectParents(parents, matings, rng)) {
      for (const c of mate(a.x, b.x, variables, opts, rng)) {
        if (out.length >= count) break;
        const k = key(c);
        if (opts.eliminateDuplicates && (taken.has(k) || (variables.kind === 'categorical' && seen.has(k)))) continue;
        taken.add(k);
        seen.add(k);
        out.push(c);
      }
    }
    if (!opts.eliminateDuplicates) break;
  }
  return out;
}

export async function runNsga2(problem: Nsga2Problem, options: Nsga2Options): Promise<Nsga2Result> {
  const rng = createRng(options.seed);
  const { variables, signs } = problem;
  const n = variables.kind === 'real' ? variables.lower.length : variables.dims.length;
  const ops: VariationOptions = {
    crossoverProb: options.crossoverProb ?? 0.9,
    etaC: options.etaC ?? 15,
    etaM: options.etaM ?? 20,
    mutationProb: options.mutationProb ?? Math.min(0.5, 1 / Math.max(n, 1)),
    mutationChildProb: options.mutationChildProb ?? 0.9,
    eliminateDuplicates: options.eliminateDuplicates ?? true,
  };
  const seen = new Set<string>();
  const canonical = (x: readonly number[]): readonly number[] => (problem.canonical ? problem.canonical(x) : x);
  let evaluations = 0;

  let lastYield = performance.now();
  const evaluateAll = async (xs: number[][], generation: number): Promise<Individual[]> => {
    const out: Individual[] = [];
    for (const x of xs) {
      // Cheap evaluations (ZDT, a predictor) never wait on I/O; give the event loop a turn every ~50 ms.
      if (performance.now() - lastYield > 50) {
        await new Promise((r) => setImmediate(r));
        lastYield = performance.now();
      }
      options.signal?.throwIfAborted();
      const e = await problem.evaluate(x, { generation });
      evaluations++;
      out.push({ x, objectives: e.objectives, violation: Math.max(0, e.violation ?? 0), rank: 0, crowding: 0, generation });
    }
    return out;
  };

  const initial: number[][] = [];
  for (const x of options.initial ?? []) {
    if (initial.length >= options.populationSize) break;
    const key = canonical(x).join(',');
    if (!seen.has(key)) {
      seen.add(key);
      initial.push(x.slice());
    }
  }
  for (let tries = 0; initial.length < options.populationSize; tries++) {
    const x = randomVector(variables, rng);
    const key = canonical(x).join(',');
    // In a tiny categorical space duplicates are unavoidable; give up on uniqueness after many tries.
    if (seen.has(key) && tries < 50 * options.populationSize) continue;
    seen.add(key);
    initial.push(x);
  }

  let population = await evaluateAll(initial, 0);
  rankAndCrowd(population, signs);
  await options.onGeneration?.(0, population, evaluations);

  for (let g = 1; g <= options.generations; g++) {
    const children = makeOffspring(population, options.populationSize, variables, ops, seen, rng, canonical);
    const offspring = await evaluateAll(children, g);
    population = selectSurvivors([...population, ...offspring], options.populationSize, signs, rng);
    // Crowding is recomputed on the survivors so the next tournament sees their own spacing.
    rankAndCrowd(population, signs);
    await options.onGeneration?.(g, population, evaluations);
  }
  return { population, front: population.filter((p) => p.rank === 0), evaluations };
}
