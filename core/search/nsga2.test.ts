import { describe, expect, it } from 'vitest';
import { createRng } from '../space/rng.js';
import { hypervolume2d } from './hypervolume.js';
import { makeOffspring, runNsga2, sbxCrossover, polynomialMutation, type Individual, type Nsga2Problem, type VariationOptions } from './nsga2.js';

/** ZDT1 (Zitzler, Deb & Thiele 2000): 30 variables in [0,1]; true front f2 = 1 − √f1, f1 ∈ [0,1]. */
function zdt1(n = 30): Nsga2Problem {
  return {
    variables: { kind: 'real', lower: new Array(n).fill(0), upper: new Array(n).fill(1) },
    evaluate(x) {
      const f1 = x[0]!;
      let s = 0;
      for (let i = 1; i < n; i++) s += x[i]!;
      const g = 1 + (9 * s) / (n - 1);
      return { objectives: [f1, g * (1 - Math.sqrt(f1 / g))] };
    },
  };
}

/**
 * Inverted generational distance: mean distance from each of 1000 evenly spaced points of the true front
 * to the nearest found point. It punishes both poor convergence and gaps in coverage.
 */
function igd(found: number[][]): number {
  let total = 0;
  const m = 1000;
  for (let i = 0; i < m; i++) {
    const f1 = i / (m - 1);
    const f2 = 1 - Math.sqrt(f1);
    let best = Infinity;
    for (const p of found) best = Math.min(best, Math.hypot(p[0]! - f1, p[1]! - f2));
    total += best;
  }
  return total / m;
}

describe('NSGA-II on ZDT1', () => {
  it('converges to f2 = 1 − √f1 and is deterministic per seed', async () => {
    const opts = { populationSize: 100, generations: 250, seed: 7 };
    const a = await runNsga2(zdt1(), opts);
    const front = a.front.map((p) => p.objectives);
    // With 100 points spread over a front of arc length ≈1.48, the spacing alone costs IGD ≈ 0.004;
    // Deb et al. report convergence ≈ 1e-3 on ZDT1 after 250 generations. IGD < 0.01 means both
    // converged and spread; a population still 0.1 away from the front would score ≥ 0.1.
    const d = igd(front);
    expect(d).toBeLessThan(0.01);
    // Hypervolume w.r.t. (1,1): the continuous true front encloses ∫₀¹ √f1 df1 = 2/3, but 100 points
    // lose the staircase gaps: 100 points of the true front evenly spaced in f1 score 0.6614. Demand
    // 99 % of that (0.655); a run stopped at 100 generations scores ≈ 0.636 and fails.
    const hv = hypervolume2d(front, [1, 1]);
    expect(hv).toBeGreaterThan(0.655);
    expect(hv).toBeLessThanOrEqual(2 / 3 + 1e-9);
    expect(a.evaluations).toBe(100 * 251);

    const b = await runNsga2(zdt1(), opts);
    expect(b.front.map((p) => p.x)).toEqual(a.front.map((p) => p.x));
    const c = await runNsga2(zdt1(), { ...opts, seed: 8, generations: 5 });
    expect(c.front.map((p) => p.x)).not.toEqual(a.front.map((p) => p.x).slice(0, c.front.length));
  });
});

/** DTLZ2 (Deb, Thiele, Laumanns & Zitzler 2002), M objectives, n variables; true front: the unit sphere's positive octant. */
function dtlz2(n = 12, m = 3): Nsga2Problem {
  return {
    variables: { kind: 'real', lower: new Array(n).fill(0), upper: new Array(n).fill(1) },
    evaluate(x) {
      let g = 0;
      for (let i = m - 1; i < n; i++) g += (x[i]! - 0.5) ** 2;
      const f: number[] = [];
      for (let k = 0; k < m; k++) {
        let v = 1 + g;
        for (let j = 0; j < m - 1 - k; j++) v *= Math.cos((x[j]! * Math.PI) / 2);
        if (k > 0) v *= Math.sin((x[m - 1 - k]! * Math.PI) / 2);
        f.push(v);
      }
      return { objectives: f };
    },
  };
}

/** IGD against 1891 points of the DTLZ2 front: the simplex lattice i+j+k = 60 projected onto the sphere. */
function igdDtlz2(found: number[][]): number {
  let total = 0;
  let count = 0;
  const h = 60;
  for (let i = 0; i <= h; i++) {
    for (let j = 0; j <= h - i; j++) {
      const v = [i, j, h - i - j];
      const norm = Math.hypot(...v);
      const z = v.map((a) => a / norm);
      let best = Infinity;
      for (const p of found) best = Math.min(best, Math.hypot(p[0]! - z[0]!, p[1]! - z[1]!, p[2]! - z[2]!));
      total += best;
      count++;
    }
  }
  return total / count;
}

describe('NSGA-II on DTLZ2 (3 objectives), against pymoo', () => {
  it('converges as closely as pymoo 0.6 NSGA-II with the same operators and budget', async () => {
    // pymoo (github anyoptimization/pymoo @ c9352c0, NSGA2(pop_size=100) defaults: SBX η=15 p=0.9, PM η=20,
    // duplicate elimination), DTLZ2 n=12, 250 generations, this IGD and reference set, seeds 1–10:
    // mean 0.0693 (sd 0.0017, range 0.0666–0.0718). This implementation, seeds 1–10: mean 0.0684
    // (before pymoo-style mating and duplicate elimination: 0.0703). Two seeds here (time). With 100
    // points IGD is mostly spacing once converged; a run stopped at 30 generations scores 0.085, at 50
    // 0.0735, and both fail the bound of pymoo's mean + 2 sd.
    const igds: number[] = [];
    for (const seed of [1, 2]) {
      const r = await runNsga2(dtlz2(), { populationSize: 100, generations: 250, seed });
      igds.push(igdDtlz2(r.front.map((p) => p.objectives)));
    }
    const mean = (igds[0]! + igds[1]!) / 2;
    expect(mean).toBeLessThan(0.0693 + 2 * 0.0017);
  });
});

describe('duplicate elimination (pymoo eliminate_duplicates=True)', () => {
  const ops = (eliminateDuplicates: boolean): VariationOptions => ({
    crossoverProb: 0.9, etaC: 15, etaM: 20, mutationProb: 1 / 3, mutationChildProb: 0.9, eliminateDuplicates,
  });
  const ind = (x: number[]): Individual => ({ x, objectives: [0], violation: 0, rank: 0, crowding: 0, generation: 0 });

  it('regenerates offspring equal to a population member or to each other', () => {
    // 3 binary genes: 8 vectors; 4 in the population, so the only new offspring are the other 4.
    const parents = [[0, 0, 0], [1, 1, 1], [0, 1, 0], [1, 0, 1]].map(ind);
    const variables = { kind: 'categorical' as const, dims: [2, 2, 2] };
    const kids = makeOffspring(parents, 4, variables, ops(true), new Set(), createRng(1));
    const keys = kids.map((k) => k.join(','));
    expect(new Set(keys).size).toBe(4);
    for (const p of parents) expect(keys).not.toContain(p.x.join(','));
    // Without elimination the same mating produces repeats of parents and of each other.
    let repeats = 0;
    for (let seed = 1; seed <= 20; seed++) {
      const k = makeOffspring(parents, 4, variables, ops(false), new Set(), createRng(seed)).map((v) => v.join(','));
      repeats += k.length - new Set(k.filter((v) => !parents.some((p) => p.x.join(',') === v))).size;
    }
    expect(repeats).toBeGreaterThan(20);
  });

  it('drops exact copies of real-valued parents', () => {
    // Crossover of two equal parents changes nothing; only mutation (p = 0.9 per child, 1/3 per gene)
    // makes a child differ, so about 0.1 + 0.9·(2/3)³ ≈ 37 % of children are copies.
    const parents = [ind([0.5, 0.5, 0.5]), ind([0.5, 0.5, 0.5])];
    const variables = { kind: 'real' as const, lower: [0, 0, 0], upper: [1, 1, 1] };
    const copies = (kids: number[][]) => kids.filter((k) => k.every((v) => v === 0.5)).length;
    expect(copies(makeOffspring(parents, 200, variables, ops(false), new Set(), createRng(2)))).toBeGreaterThan(40);
    const kept = makeOffspring(parents, 200, variables, ops(true), new Set(), createRng(2));
    expect(kept.length).toBe(200);
    expect(copies(kept)).toBe(0);
    expect(new Set(kept.map((k) => k.join(','))).size).toBe(200);
  });
});

describe('NSGA-II on a categorical problem with a constraint', () => {
  it('finds the exact constrained front of a small enumerable space', async () => {
    // 6 genes with 4 choices: "accuracy" = Σ x (max), "cost" = Σ x² (min), constraint cost ≤ 20.
    const dims = [4, 4, 4, 4, 4, 4];
    const problem: Nsga2Problem = {
      variables: { kind: 'categorical', dims },
      signs: [-1, 1],
      evaluate(x) {
        const acc = x.reduce((s, v) => s + v, 0);
        const cost = x.reduce((s, v) => s + v * v, 0);
        return { objectives: [acc, cost], violation: Math.max(0, cost - 20) };
      },
    };
    const r = await runNsga2(problem, { populationSize: 40, generations: 40, seed: 3 });
    for (const p of r.population) expect(p.violation).toBe(0);
    // For a given sum s the least Σx² spreads s as evenly as possible; the front is every s from 0 to
    // the largest with even-spread cost ≤ 20: s = 10 → (2,2,2,2,1,1) costs 4·4+2 = 18; s = 11 →
    // (2,2,2,2,2,1) costs 21 > 20. So the front has the 11 sums 0..10 with cost = min Σx².
    const minCost = (s: number) => {
      const q = Math.floor(s / 6);
      const r = s % 6;
      return r * (q + 1) ** 2 + (6 - r) * q ** 2;
    };
    const found = new Map<number, number>();
    for (const p of r.front) found.set(p.objectives[0]!, p.objectives[1]!);
    for (let s = 0; s <= 10; s++) expect(found.get(s), `sum ${s}`).toBe(minCost(s));
  });
});

describe('operators', () => {
  it('keep children inside the bounds', () => {
    const rng = createRng(1);
    const lo = [0, -1, 2];
    const hi = [1, 1, 3];
    for (let t = 0; t < 200; t++) {
      const [c1, c2] = sbxCrossover([0, -1, 3], [1, 1, 2], lo, hi, 15, rng);
      polynomialMutation(c1, lo, hi, 20, 1, rng);
      for (const c of [c1, c2]) c.forEach((v, i) => expect(v >= lo[i]! && v <= hi[i]!).toBe(true));
    }
  });
});
