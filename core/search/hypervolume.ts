/**
 * Exact hypervolume (the Lebesgue measure of the region dominated by a point set and bounded by a
 * reference point; Zitzler & Thiele 1998), for minimisation in 2 and 3 objectives.
 *
 * Points that do not strictly dominate the reference point in every objective contribute nothing.
 *
 * Normalisation used for the search's objectives (see `normaliseForHypervolume`): accuracy becomes the
 * error `1 − accuracy` (in [0, 1], reference 1 = a classifier that is always wrong) and each cost
 * objective (latency, params, FLOPs) is divided by the cost of the space's largest subnet, measured once
 * per run and stored with it (runScale.ts), with reference 1.1 — the 10 % margin keeps the largest
 * subnet itself (and latencies measured a little above it through timer noise) inside the box. The
 * scales are fixed for the whole run, so hypervolumes compare across generations and across searches.
 */

/** Exact 2-D hypervolume: sort by the first objective and sum the rectangles of the staircase. */
export function hypervolume2d(points: readonly (readonly number[])[], ref: readonly [number, number] | readonly number[]): number {
  const pts = points
    .filter((p) => p[0]! < ref[0]! && p[1]! < ref[1]!)
    .map((p) => [p[0]!, p[1]!] as const)
    .sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let volume = 0;
  let bestY = ref[1]!;
  for (let i = 0; i < pts.length; i++) {
    const [x, y] = pts[i]!;
    if (y >= bestY) continue; // dominated by an earlier point
    // This point adds the strip from its x to the reference, between its y and the best y so far.
    volume += (ref[0]! - x) * (bestY - y);
    bestY = y;
  }
  return volume;
}

/**
 * Exact 3-D hypervolume by slicing along the third objective: between consecutive z values of the
 * points the dominated cross-section is the 2-D hypervolume of the points already passed.
 * O(n² log n), ample for search populations (hundreds of points).
 */
export function hypervolume3d(points: readonly (readonly number[])[], ref: readonly number[]): number {
  const pts = points
    .filter((p) => p[0]! < ref[0]! && p[1]! < ref[1]! && p[2]! < ref[2]!)
    .slice()
    .sort((a, b) => a[2]! - b[2]!);
  let volume = 0;
  const active: (readonly number[])[] = [];
  for (let i = 0; i < pts.length; i++) {
    active.push(pts[i]!);
    const zNext = i + 1 < pts.length ? pts[i + 1]![2]! : ref[2]!;
    const depth = zNext - pts[i]![2]!;
    if (depth > 0) volume += hypervolume2d(active, [ref[0]!, ref[1]!]) * depth;
  }
  return volume;
}

/** Hypervolume in 1, 2 or 3 objectives (all minimised). */
export function hypervolume(points: readonly (readonly number[])[], ref: readonly number[]): number {
  switch (ref.length) {
    case 1: {
      const best = Math.min(...points.map((p) => p[0]!), ref[0]!);
      return ref[0]! - best;
    }
    case 2:
      return hypervolume2d(points, ref);
    case 3:
      return hypervolume3d(points, ref);
    default:
      throw new Error(`hypervolume is implemented for 1 to 3 objectives, got ${ref.length}`);
  }
}

export type HypervolumeObjective = 'accuracy' | 'latency' | 'params' | 'flops' | 'bits';

/** Reference value of a normalised objective (see the module comment). */
export const HV_REF_ERROR = 1;
export const HV_REF_COST = 1.1;

/**
 * Map raw objective values to the minimised, normalised space the hypervolume is computed in, and
 * return the matching reference point. `scales[i]` is the cost of the largest subnet for cost
 * objectives (ignored for accuracy).
 */
export function normaliseForHypervolume(
  objectives: readonly HypervolumeObjective[],
  rows: readonly (readonly number[])[],
  scales: readonly number[],
): { points: number[][]; ref: number[] } {
  const ref = objectives.map((o) => (o === 'accuracy' ? HV_REF_ERROR : HV_REF_COST));
  const points = rows.map((row) =>
    objectives.map((o, i) => (o === 'accuracy' ? 1 - row[i]! : row[i]! / Math.max(scales[i]!, 1e-12))),
  );
  return { points, ref };
}
