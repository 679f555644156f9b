/** Random experts and calibration batches for the compression tests (a fixture, not production code). */
import { createRng } from '../space/rng.js';
import { denseForward, type ExpertFfn } from './matrix.js';

export function randomExpert(d: number, h: number, seed: number, scale = 1): ExpertFfn {
  const rng = createRng(seed);
  const arr = (n: number) => Float32Array.from({ length: n }, () => rng.normal() * scale);
  return {
    up: { kernel: arr(d * h), bias: arr(h), inDim: d, outDim: h },
    down: { kernel: arr(h * d), bias: arr(d), inDim: h, outDim: d },
  };
}

export function randomRows(n: number, d: number, seed: number): Float32Array {
  const rng = createRng(seed);
  return Float32Array.from({ length: n * d }, () => rng.normal());
}

export const relu = (v: number) => (v > 0 ? v : 0);

export function expertForward(e: ExpertFfn, x: ArrayLike<number>, n: number): Float64Array {
  return denseForward(denseForward(x, n, e.up, relu), n, e.down);
}
