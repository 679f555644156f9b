/**
 * Linear assignment (Hungarian algorithm, Kuhn 1955 / Munkres 1957, in the O(n³) potentials form of
 * Jonker–Volgenant as written in e-maxx "Hungarian algorithm"): for a square cost matrix, the
 * permutation `p` minimising Σ_i cost[i][p[i]]. MC-SMoE's neuron alignment solves one per expert pair.
 */
export function linearAssignment(cost: readonly (readonly number[])[]): number[] {
  const n = cost.length;
  for (const row of cost) if (row.length !== n) throw new Error(`linearAssignment: cost must be square (${n} rows, a row of ${row.length})`);
  const INF = Number.POSITIVE_INFINITY;
  // 1-based potentials u (rows), v (columns); way[j] the previous column on the augmenting path; p[j] the row matched to column j.
  const u = new Float64Array(n + 1);
  const v = new Float64Array(n + 1);
  const p = new Int32Array(n + 1);
  const way = new Int32Array(n + 1);
  for (let i = 1; i <= n; i++) {
    p[0] = i;
    let j0 = 0;
    const minv = new Float64Array(n + 1).fill(INF);
    const used = new Uint8Array(n + 1);
    do {
      used[j0] = 1;
      const i0 = p[j0]!;
      let delta = INF;
      let j1 = 0;
      for (let j = 1; j <= n; j++) {
        if (used[j]) continue;
        const cur = cost[i0 - 1]![j - 1]! - u[i0]! - v[j]!;
        if (cur < minv[j]!) {
          minv[j] = cur;
          way[j] = j0;
        }
        if (minv[j]! < delta) {
          delta = minv[j]!;
          j1 = j;
        }
      }
      for (let j = 0; j <= n; j++) {
        if (used[j]) {
          u[p[j]!]! += delta;
          v[j]! -= delta;
        } else minv[j]! -= delta;
      }
      j0 = j1;
    } while (p[j0] !== 0);
    do {
      const j1 = way[j0]!;
      p[j0] = p[j1]!;
      j0 = j1;
    } while (j0 !== 0);
  }
  const assignment = new Array<number>(n).fill(-1);
  for (let j = 1; j <= n; j++) if (p[j]! > 0) assignment[p[j]! - 1] = j - 1;
  return assignment;
}
