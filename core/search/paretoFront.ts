/**
 * Pareto dominance, fast non-dominated sorting and crowding distance, as in NSGA-II
 * (Deb, Pratap, Agarwal & Meyarivan, "A fast and elitist multiobjective genetic algorithm: NSGA-II",
 * IEEE TEC 2002, sections III-A and III-B), with the constraint-domination rule of section IV-A.
 *
 * Objectives may mix directions through a sign vector: `signs[i] = 1` minimises objective i and
 * `signs[i] = -1` maximises it (internally every value is multiplied by its sign and minimised).
 * Omitting `signs` minimises everything.
 */

/** +1 minimise, −1 maximise, one per objective. */
export type ObjectiveSigns = readonly number[];

function signOf(signs: ObjectiveSigns | undefined, i: number): number {
  return signs ? (signs[i]! < 0 ? -1 : 1) : 1;
}

/** True when `a` is no worse than `b` in every objective and strictly better in at least one. */
export function dominates(a: readonly number[], b: readonly number[], signs?: ObjectiveSigns): boolean {
  let better = false;
  for (let i = 0; i < a.length; i++) {
    const s = signOf(signs, i);
    const da = a[i]! * s;
    const db = b[i]! * s;
    if (da > db) return false;
    if (da < db) better = true;
  }
  return better;
}

/**
 * Deb et al. 2002, §IV-A constrained domination: a feasible solution (violation 0) beats an infeasible
 * one; of two infeasible solutions the smaller total violation wins; two feasible ones compare by
 * ordinary Pareto dominance.
 */
export function constrainedDominates(
  a: readonly number[],
  b: readonly number[],
  violationA: number,
  violationB: number,
  signs?: ObjectiveSigns,
): boolean {
  const fa = violationA <= 0;
  const fb = violationB <= 0;
  if (fa && !fb) return true;
  if (!fa && fb) return false;
  if (!fa && !fb) return violationA < violationB;
  return dominates(a, b, signs);
}

/**
 * Fast non-dominated sort (Deb et al. 2002, §III-A), O(M·N²). Returns the fronts as lists of indices
 * into `points`, best front first. With `violations`, constraint-domination decides (§IV-A).
 */
export function nonDominatedSort(
  points: readonly (readonly number[])[],
  signs?: ObjectiveSigns,
  violations?: readonly number[],
): number[][] {
  const n = points.length;
  const dominatedBy: number[][] = Array.from({ length: n }, () => []);
  const dominationCount = new Array<number>(n).fill(0);
  const fronts: number[][] = [[]];
  const v = (i: number) => (violations ? violations[i]! : 0);
  for (let p = 0; p < n; p++) {
    for (let q = p + 1; q < n; q++) {
      if (constrainedDominates(points[p]!, points[q]!, v(p), v(q), signs)) {
        dominatedBy[p]!.push(q);
        dominationCount[q]!++;
      } else if (constrainedDominates(points[q]!, points[p]!, v(q), v(p), signs)) {
        dominatedBy[q]!.push(p);
        dominationCount[p]!++;
      }
    }
  }
  for (let p = 0; p < n; p++) if (dominationCount[p] === 0) fronts[0]!.push(p);
  let i = 0;
  while (fronts[i]!.length > 0) {
    const next: number[] = [];
    for (const p of fronts[i]!) {
      for (const q of dominatedBy[p]!) {
        if (--dominationCount[q]! === 0) next.push(q);
      }
    }
    i++;
    fronts.push(next);
  }
  fronts.pop(); // the last one is always empty
  return fronts;
}

/**
 * Crowding distance of each member of one front (Deb et al. 2002, §III-B): the sum over objectives of
 * the normalised gap between each point's two neighbours; the extremes get +∞ so they are kept.
 * Returned in the order of `front`.
 */
export function crowdingDistance(points: readonly (readonly number[])[], front: readonly number[]): number[] {
  const n = front.length;
  const distance = new Array<number>(n).fill(0);
  if (n === 0) return distance;
  if (n <= 2) return distance.fill(Infinity);
  const m = points[front[0]!]!.length;
  const order = Array.from({ length: n }, (_, i) => i);
  for (let k = 0; k < m; k++) {
    const value = (i: number) => points[front[i]!]![k]!;
    order.sort((a, b) => value(a) - value(b));
    const lo = value(order[0]!);
    const hi = value(order[n - 1]!);
    distance[order[0]!] = Infinity;
    distance[order[n - 1]!] = Infinity;
    if (hi === lo) continue;
    for (let j = 1; j < n - 1; j++) {
      distance[order[j]!]! += (value(order[j + 1]!) - value(order[j - 1]!)) / (hi - lo);
    }
  }
  return distance;
}

/** Indices of the non-dominated points (the first front). Duplicates of a front point are all kept. */
export function paretoFront(
  points: readonly (readonly number[])[],
  signs?: ObjectiveSigns,
  violations?: readonly number[],
): number[] {
  if (points.length === 0) return [];
  const front: number[] = [];
  for (let i = 0; i < points.length; i++) {
    let dominated = false;
    for (let j = 0; j < points.length && !dominated; j++) {
      if (i !== j && constrainedDominates(points[j]!, points[i]!, violations?.[j] ?? 0, violations?.[i] ?? 0, signs)) {
        dominated = true;
      }
    }
    if (!dominated) front.push(i);
  }
  return front;
}

/** Rank (0 = best front) of each point, aligned with `points`. */
export function paretoRanks(
  points: readonly (readonly number[])[],
  signs?: ObjectiveSigns,
  violations?: readonly number[],
): number[] {
  const ranks = new Array<number>(points.length).fill(0);
  nonDominatedSort(points, signs, violations).forEach((front, r) => {
    for (const i of front) ranks[i] = r;
  });
  return ranks;
}
