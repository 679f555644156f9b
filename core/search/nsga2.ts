/**
 * NSGA-II (Deb, Pratap, Agarwal & Meyarivan, IEEE TEC 2002), generic over the problem:
 * - real-valued vectors: simulated binary crossover (SBX, Deb & Agrawal 1995) and polynomial mutation,
 *   in the bounded forms of Deb's reference C implementation (nsga2-v1.1);
 * - integer / categorical vectors (an encoded subnet: gene i takes one of `dims[i]` choices): uniform
 *   crossover and per-gene resampling, the operators used for weight-sharing NAS by OFA (Cai et al. 2020)
 *   and DyNAS-T (Cummings et al. 2022);
 * - constraint-domination (§IV-A) for infeasible solutions (`violation > 0`);
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
  /** Per-gene mutation probability (default 1/n). */
  mutationProb?: number;
  /** Individuals placed in the initial population before the random ones (e.g. largest/smallest subnet). */
  initial?: number[][];
  /** Categorical problems: repair offspring identical to an already-evaluated vector by re-mutating it. */
  dedupe?: boolean;
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

/** Crowded-comparison operator ≺n (§III-C): lower rank wins, then larger crowding distance. */
export function crowdedBetter(a: Individual, b: Individual): boolean {
  return a.rank < b.rank || (a.rank === b.rank && a.crowding > b.crowding);
}

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

/** Elitist survival (§III-C): fill by whole fronts, cut the last one by crowding distance. */
export function selectSurvivors(pool: Individual[], n: number, signs?: ObjectiveSigns): Individual[] {
  const fronts = rankAndCrowd(pool, signs);
  const next: Individual[] = [];
  for (const front of fronts) {
    if (next.length + front.length <= n) {
      for (const i of front) next.push(pool[i]!);
    } else {
      const rest = front.map((i) => pool[i]!).sort((a, b) => b.crowding - a.crowding);
      next.push(...rest.slice(0, n - next.length));
    }
    if (next.length >= n) break;
  }
  return next;
}

function tournament(pop: readonly Individual[], rng: Rng): Individual {
  const a = pop[rng.int(pop.length)]!;
  const b = pop[rng.int(pop.length)]!;
  if (crowdedBetter(a, b)) return a;
  if (crowdedBetter(b, a)) return b;
  return rng.next() < 0.5 ? a : b;
}

// ---------------------------------------------------------------------------------------------------
// The loop.

/** Make offspring from a ranked population (tournament, crossover, mutation, optional de-duplication). */
export function makeOffspring(
  parents: readonly Individual[],
  count: number,
  variables: Variables,
  opts: Required<Pick<Nsga2Options, 'crossoverProb' | 'etaC' | 'etaM' | 'mutationProb'>> & { dedupe: boolean },
  seen: Set<string>,
  rng: Rng,
  canonical: (x: readonly number[]) => readonly number[] = (x) => x,
): number[][] {
  const out: number[][] = [];
  while (out.length < count) {
    const a = tournament(parents, rng).x;
    const b = tournament(parents, rng).x;
    let c1: number[];
    let c2: number[];
    if (variables.kind === 'real') {
      [c1, c2] = rng.next() < opts.crossoverProb ? sbxCrossover(a, b, variables.lower, variables.upper, opts.etaC, rng) : [a.slice(), b.slice()];
      polynomialMutation(c1, variables.lower, variables.upper, opts.etaM, opts.mutationProb, rng);
      polynomialMutation(c2, variables.lower, variables.upper, opts.etaM, opts.mutationProb, rng);
    } else {
      [c1, c2] = rng.next() < opts.crossoverProb ? uniformCrossover(a, b, rng) : [a.slice(), b.slice()];
      resampleMutation(c1, variables.dims, opts.mutationProb, rng);
      resampleMutation(c2, variables.dims, opts.mutationProb, rng);
    }
    for (const c of [c1, c2]) {
      if (out.length >= count) break;
      if (opts.dedupe && variables.kind === 'categorical') repairDuplicate(c, variables.dims, seen, rng, canonical);
      seen.add(canonical(c).join(','));
      out.push(c);
    }
  }
  return out;
}

/** Re-mutate single genes until the vector is new (a few tries; small spaces may be exhausted). */
function repairDuplicate(
  x: number[],
  dims: readonly number[],
  seen: Set<string>,
  rng: Rng,
  canonical: (x: readonly number[]) => readonly number[],
): void {
  const mutable = dims.map((d, i) => (d > 1 ? i : -1)).filter((i) => i >= 0);
  if (mutable.length === 0) return;
  for (let tries = 0; tries < 32 && seen.has(canonical(x).join(',')); tries++) {
    const i = mutable[rng.int(mutable.length)]!;
    x[i] = resampleGene(x[i]!, dims[i]!, rng);
  }
}

export async function runNsga2(problem: Nsga2Problem, options: Nsga2Options): Promise<Nsga2Result> {
  const rng = createRng(options.seed);
  const { variables, signs } = problem;
  const n = variables.kind === 'real' ? variables.lower.length : variables.dims.length;
  const ops = {
    crossoverProb: options.crossoverProb ?? 0.9,
    etaC: options.etaC ?? 15,
    etaM: options.etaM ?? 20,
    mutationProb: options.mutationProb ?? 1 / Math.max(n, 1),
    dedupe: options.dedupe ?? variables.kind === 'categorical',
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
    population = selectSurvivors([...population, ...offspring], options.populationSize, signs);
    // Crowding is recomputed on the survivors so the next tournament sees their own spacing.
    rankAndCrowd(population, signs);
    await options.onGeneration?.(g, population, evaluations);
  }
  return { population, front: population.filter((p) => p.rank === 0), evaluations };
}
