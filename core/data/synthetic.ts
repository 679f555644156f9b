/**
 * Seeded 2-D toy datasets: interleaved spirals (the classic CS231n toy problem, where a linear model
 * fails) and a ring of Gaussian blobs. Both are small enough to train in seconds on CPU and live in a
 * plane, so the specialization view can colour the plane by each MoE layer's chosen expert.
 */
import type { DatasetConfig } from '../protocol/protocol.js';
import { createRng, type Rng } from '../space/rng.js';
import type { PlaneBounds, SourceDataset, Split } from './DatasetContract.js';

type SpiralsConfig = Extract<DatasetConfig, { kind: 'spirals' }>;
type GaussiansConfig = Extract<DatasetConfig, { kind: 'gaussians' }>;

/** Share of the generated samples held out as the test split. */
export const TEST_FRACTION = 0.2;

export function makeSpirals(cfg: SpiralsConfig): SourceDataset {
  const rng = createRng(cfg.seed);
  const xs: number[] = [];
  const ys: number[] = [];
  for (let i = 0; i < cfg.samples; i++) {
    const c = i % cfg.classes;
    const t = rng.next();
    // Radius grows along the arm; 1.5 turns per arm; noise perturbs the angle as in CS231n's spirals.
    const theta = (c * 2 * Math.PI) / cfg.classes + t * 3 * Math.PI + cfg.noise * rng.normal() * 0.5;
    const r = 0.05 + 0.95 * t;
    xs.push(r * Math.cos(theta), r * Math.sin(theta));
    ys.push(c);
  }
  return planeDataset('spirals', xs, ys, cfg.classes, rng);
}

export function makeGaussians(cfg: GaussiansConfig): SourceDataset {
  const rng = createRng(cfg.seed);
  // Centres on a circle whose radius grows with the class count, so neighbours stay ~2.5 apart.
  const radius = Math.max(2.5, (2.5 * cfg.classes) / (2 * Math.PI));
  const xs: number[] = [];
  const ys: number[] = [];
  for (let i = 0; i < cfg.samples; i++) {
    const c = i % cfg.classes;
    const a = (c * 2 * Math.PI) / cfg.classes;
    xs.push(radius * Math.cos(a) + cfg.spread * rng.normal(), radius * Math.sin(a) + cfg.spread * rng.normal());
    ys.push(c);
  }
  return planeDataset('gaussians', xs, ys, cfg.classes, rng);
}

function planeDataset(kind: 'spirals' | 'gaussians', xs: number[], ys: number[], classes: number, rng: Rng): SourceDataset {
  const n = ys.length;
  const order = rng.shuffle(Array.from({ length: n }, (_, i) => i));
  const nTest = Math.max(1, Math.round(n * TEST_FRACTION));
  const pick = (idx: number[]): Split => {
    const x = new Float32Array(idx.length * 2);
    const y = new Int32Array(idx.length);
    idx.forEach((j, k) => {
      x[2 * k] = xs[2 * j]!;
      x[2 * k + 1] = xs[2 * j + 1]!;
      y[k] = ys[j]!;
    });
    return { x, y, n: idx.length };
  };
  return {
    kind,
    train: pick(order.slice(nTest)),
    test: pick(order.slice(0, nTest)),
    inputShape: [2],
    numClasses: classes,
    classNames: Array.from({ length: classes }, (_, c) => `class ${c}`),
    bounds: squareBounds(xs),
  };
}

/** A square around all points with a 10% margin, so maps of the plane are not distorted. */
function squareBounds(xy: number[]): PlaneBounds {
  let m = 0;
  for (const v of xy) m = Math.max(m, Math.abs(v));
  const h = m * 1.1 || 1;
  return { xMin: -h, xMax: h, yMin: -h, yMax: h };
}
