/**
 * Prototypes and tokens on a plane (the ProMoE view): the router inputs of held-out tokens and the router's
 * prototypes (ProMoE's unit prototypes; any router that exposes points in its input space), both
 * L2-normalised — the space cosine routing compares them in — and projected onto the first two principal
 * components of the normalised tokens (power iteration with deflation on their covariance).
 */

export interface PrototypePlane {
  /** [pc1, pc2, expert] per token (expert: the token's top expert). */
  tokens: [number, number, number][];
  /** [pc1, pc2] per prototype (expert order). */
  prototypes: [number, number][];
  /** Share of the tokens' variance the two components explain. */
  explained: number;
}

const unit = (v: number[]) => {
  const n = Math.sqrt(v.reduce((s, x) => s + x * x, 0));
  return n > 0 ? v.map((x) => x / n) : v;
};

/** The leading eigenvectors of a symmetric d×d matrix (power iteration, deflation). */
export function principalAxes(cov: number[][], count: number, iterations = 200): { axes: number[][]; values: number[] } {
  const d = cov.length;
  const m = cov.map((r) => [...r]);
  const axes: number[][] = [];
  const values: number[] = [];
  for (let c = 0; c < Math.min(count, d); c++) {
    // A deterministic start not orthogonal to the leading axis in general.
    let v = unit(Array.from({ length: d }, (_, i) => 1 + i / d));
    let lambda = 0;
    for (let it = 0; it < iterations; it++) {
      const w = m.map((row) => row.reduce((s, x, j) => s + x * v[j]!, 0));
      lambda = Math.sqrt(w.reduce((s, x) => s + x * x, 0));
      if (lambda === 0) break;
      v = w.map((x) => x / lambda);
    }
    axes.push(v);
    values.push(lambda);
    for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) m[i]![j]! -= lambda * v[i]! * v[j]!;
  }
  return { axes, values };
}

/** Tokens [T][d] with their top experts, prototypes [S][d]: both normalised and projected on the tokens' PCA plane. */
export function prototypePlane(tokens: number[][], experts: readonly number[], prototypes: number[][]): PrototypePlane {
  const t = tokens.map(unit);
  const d = t[0]?.length ?? 0;
  const mean = Array.from({ length: d }, (_, i) => t.reduce((s, r) => s + r[i]!, 0) / Math.max(1, t.length));
  const centred = t.map((r) => r.map((x, i) => x - mean[i]!));
  const cov = Array.from({ length: d }, (_, i) => Array.from({ length: d }, (_, j) => centred.reduce((s, r) => s + r[i]! * r[j]!, 0) / Math.max(1, t.length)));
  const { axes, values } = principalAxes(cov, 2);
  const total = cov.reduce((s, r, i) => s + r[i]!, 0);
  const project = (r: number[]): [number, number] => [0, 1].map((k) => (axes[k] ? r.reduce((s, x, i) => s + (x - mean[i]!) * axes[k]![i]!, 0) : 0)) as [number, number];
  return {
    tokens: t.map((r, i) => [...project(r), experts[i] ?? 0]),
    prototypes: prototypes.map((p) => project(unit(p))),
    explained: total > 0 ? values.reduce((a, b) => a + b, 0) / total : 0,
  };
}
