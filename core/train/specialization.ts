/**
 * Where the router sends what: class × expert counts and expert co-activation on held-out samples, and
 * for 2-D data a grid over the plane coloured by each MoE layer's top expert and by the predicted class
 * (the kind of map Shazeer et al., 2017 and later MoE papers use to show expert specialization).
 */
import * as tf from '@tensorflow/tfjs';
import type { Dataset } from '../data/Dataset.js';
import type { Supernet } from '../nn/types.js';
import type { Specialization } from '../protocol/protocol.js';
import type { Arch } from '../space/SearchSpace.js';
import { createRng } from '../space/rng.js';

export const PLANE_GRID_SIZE = 48;

export interface SpecializationOptions {
  /** Held-out samples routed for the counts (default 512). */
  samples?: number;
  gridSize?: number;
  /** Test points drawn over the plane (default 300). */
  points?: number;
}

export function computeSpecialization(
  net: Supernet,
  arch: Arch,
  ds: Dataset,
  step: number,
  opts: SpecializationOptions = {},
): Specialization {
  const n = Math.min(opts.samples ?? 512, ds.test.n);
  const f = ds.test.x.length / ds.test.n;
  const labels = ds.test.y.subarray(0, n);
  const layers = tf.tidy(() => {
    const x = tf.tensor(ds.test.x.subarray(0, n * f), [n, ...ds.inputShape]);
    const out = net.apply(x, arch, { training: false, progress: 1 });
    return out.moe.map((m) => {
      const slots = m.expertNames.length;
      const mask = m.mask.dataSync();
      const tokens = mask.length / slots;
      // Conv MoE layers route every position: tokens of a sample are consecutive.
      const perSample = Math.max(1, Math.round(tokens / n));
      const counts = Array.from({ length: ds.classNames.length }, () => new Array<number>(slots).fill(0));
      for (let t = 0; t < tokens; t++) {
        const c = labels[Math.min(n - 1, Math.floor(t / perSample))]!;
        const row = counts[c];
        if (!row) continue;
        for (let e = 0; e < slots; e++) row[e]! += mask[t * slots + e]!;
      }
      const co = tf.matMul(m.mask, m.mask, true, false).arraySync() as number[][];
      return { layer: m.layer, expertNames: m.expertNames, counts, coactivation: co };
    });
  });
  const spec: Specialization = { step, classNames: ds.classNames, layers };
  if (ds.bounds && ds.inputShape.length === 1 && ds.inputShape[0] === 2) {
    const size = opts.gridSize ?? PLANE_GRID_SIZE;
    const { xMin, xMax, yMin, yMax } = ds.bounds;
    const grid = new Float32Array(size * size * 2);
    for (let r = 0; r < size; r++) {
      for (let c = 0; c < size; c++) {
        const i = r * size + c;
        grid[2 * i] = xMin + ((c + 0.5) * (xMax - xMin)) / size;
        grid[2 * i + 1] = yMin + ((r + 0.5) * (yMax - yMin)) / size;
      }
    }
    const { experts, predicted } = tf.tidy(() => {
      const out = net.apply(tf.tensor2d(grid, [size * size, 2]), arch, { training: false, progress: 1 });
      return {
        experts: out.moe.map((m) => Array.from(m.topExpert.dataSync(), (v) => Math.round(v)).slice(0, size * size)),
        predicted: Array.from(tf.argMax(out.logits, 1).dataSync()),
      };
    });
    const rng = createRng(step + 1);
    const count = Math.min(opts.points ?? 300, ds.test.n);
    const idx = rng.shuffle(Array.from({ length: ds.test.n }, (_, i) => i)).slice(0, count);
    const points = idx.map((i) => [ds.test.x[2 * i]!, ds.test.x[2 * i + 1]!, ds.test.y[i]!] as [number, number, number]);
    spec.plane = { xMin, xMax, yMin, yMax, size, experts, predicted, points };
  }
  return spec;
}
