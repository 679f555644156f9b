/**
 * A light accuracy predictor over arch vectors: ridge regression on the one-hot encoding of a vector, one
 * indicator per (position, choice). DyNAS-T / LINAS (Cummings et al., "A Hardware-Aware Framework for
 * Accelerating Neural Architecture Search Across Modalities", 2022) found such simple predictors rank
 * subnets of a weight-sharing supernet about as well as MLPs or GBDTs at a fraction of the cost and with far
 * fewer samples; the penalty is picked by exact leave-one-out error, so no validation split is spent.
 *
 * Pure arithmetic on the space's floor, so training strategies (AttentiveNAS's predictor-guided sampling,
 * core/train/strategies/attentivenas.ts) and search (core/search/accuracyPredictor.ts, predictor-guided
 * evolution) use the one implementation.
 */

/** One indicator per (position, choice), concatenated in position order. */
export function oneHot(vector: readonly number[], dims: readonly number[]): number[] {
  const out: number[] = [];
  dims.forEach((d, i) => {
    for (let c = 0; c < d; c++) out.push(vector[i] === c ? 1 : 0);
  });
  return out;
}

/** Cholesky factor L (row-major, lower) of a symmetric positive-definite n×n matrix. */
function cholesky(a: Float64Array, n: number): Float64Array {
  const l = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = a[i * n + j]!;
      for (let k = 0; k < j; k++) s -= l[i * n + k]! * l[j * n + k]!;
      if (i === j) l[i * n + i] = Math.sqrt(Math.max(s, 1e-12));
      else l[i * n + j] = s / l[j * n + j]!;
    }
  }
  return l;
}

function choleskySolve(l: Float64Array, n: number, b: readonly number[] | Float64Array): Float64Array {
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = b[i]!;
    for (let k = 0; k < i; k++) s -= l[i * n + k]! * y[k]!;
    y[i] = s / l[i * n + i]!;
  }
  const x = new Float64Array(n);
  for (let i = n - 1; i >= 0; i--) {
    let s = y[i]!;
    for (let k = i + 1; k < n; k++) s -= l[k * n + i]! * x[k]!;
    x[i] = s / l[i * n + i]!;
  }
  return x;
}

export interface RidgeModel {
  weights: number[];
  intercept: number;
  means: number[];
  lambda: number;
  /** Leave-one-out RMSE at the chosen lambda. */
  looRmse: number;
}

/**
 * Ridge regression with an unpenalised intercept; λ chosen from `lambdas` by exact leave-one-out error
 * (residual_i / (1 − h_ii), Allen 1974).
 */
export function fitRidge(xs: readonly (readonly number[])[], ys: readonly number[], lambdas: readonly number[] = [0.01, 0.1, 1, 10]): RidgeModel {
  const n = xs.length;
  if (n === 0) throw new Error('fitRidge needs at least one sample');
  const p = xs[0]!.length;
  const means = new Array<number>(p).fill(0);
  for (const x of xs) for (let j = 0; j < p; j++) means[j]! += x[j]! / n;
  const yMean = ys.reduce((s, v) => s + v, 0) / n;
  const xc = xs.map((x) => x.map((v, j) => v - means[j]!));
  const yc = ys.map((v) => v - yMean);
  const gram = new Float64Array(p * p);
  for (const x of xc) {
    for (let i = 0; i < p; i++) {
      const xi = x[i]!;
      if (xi === 0) continue;
      for (let j = 0; j < p; j++) gram[i * p + j]! += xi * x[j]!;
    }
  }
  const xty = new Array<number>(p).fill(0);
  xc.forEach((x, r) => x.forEach((v, j) => (xty[j]! += v * yc[r]!)));

  let best: RidgeModel | null = null;
  for (const lambda of lambdas) {
    const a = gram.slice();
    for (let i = 0; i < p; i++) a[i * p + i]! += lambda;
    const l = cholesky(a, p);
    const w = choleskySolve(l, p, xty);
    let sse = 0;
    for (let r = 0; r < n; r++) {
      const x = xc[r]!;
      let pred = 0;
      for (let j = 0; j < p; j++) pred += w[j]! * x[j]!;
      // Leverage of sample r, including the intercept's 1/n.
      const z = choleskySolve(l, p, x);
      let h = 1 / n;
      for (let j = 0; j < p; j++) h += x[j]! * z[j]!;
      const e = (yc[r]! - pred) / Math.max(1 - h, 1e-6);
      sse += e * e;
    }
    const looRmse = Math.sqrt(sse / n);
    if (!best || looRmse < best.looRmse) best = { weights: Array.from(w), intercept: yMean, means, lambda, looRmse };
  }
  return best!;
}

export function predictRidge(model: RidgeModel, x: readonly number[]): number {
  let s = model.intercept;
  for (let j = 0; j < model.weights.length; j++) s += model.weights[j]! * (x[j]! - model.means[j]!);
  return s;
}

/**
 * Predicts one objective of a subnet from its arch vector. Features are taken from the canonical
 * vector (`canonical`, e.g. archCodec's canonicalVector): genes beyond a stage's chosen depth or under
 * an identity block decide nothing, and left raw they are noise the regression fits and two encodings
 * of one subnet get two predictions.
 */
export class AccuracyPredictor {
  private model: RidgeModel | null = null;
  constructor(
    readonly dims: readonly number[],
    private readonly canonical: (x: readonly number[]) => readonly number[] = (x) => x,
  ) {}

  private features(v: readonly number[]): number[] {
    return oneHot(this.canonical(v), this.dims);
  }

  fit(vectors: readonly (readonly number[])[], targets: readonly number[]): this {
    this.model = fitRidge(
      vectors.map((v) => this.features(v)),
      targets,
    );
    return this;
  }

  /** Use an already fitted model (a checkpointed one); `fitted` afterwards. */
  load(model: RidgeModel): this {
    this.model = model;
    return this;
  }

  /** The fitted model (plain numbers: JSON-serialisable), or null before `fit`. */
  get ridge(): RidgeModel | null {
    return this.model;
  }

  get fitted(): boolean {
    return this.model !== null;
  }

  get lambda(): number | undefined {
    return this.model?.lambda;
  }

  predict(vector: readonly number[]): number {
    if (!this.model) throw new Error('AccuracyPredictor.predict before fit');
    return predictRidge(this.model, this.features(vector));
  }
}
