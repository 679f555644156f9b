import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { activate } from '../activations.js';
import { aTileLoad, bTileLoad, DENSE_BK, DENSE_TILE, denseDispatch, emulateDenseMatmul, geluApprox, type GradActivation } from './denseKernels.js';
import { denseForwardSpec, denseInputGradSpec, denseKernelGradSpec, type DenseShape } from './denseFused.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

function rand(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 32 - 0.5;
  }
  return out;
}

function maxRelErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num = Math.max(num, Math.abs(a[i]! - b[i]!));
    den = Math.max(den, Math.abs(b[i]!));
  }
  return num / Math.max(den, 1e-30);
}

describe('dense kernel tiling', () => {
  it('covers every element of a tile exactly once, for both layouts of both operands', () => {
    for (const layout of ['n', 't'] as const) {
      const seenA = new Set<number>();
      const seenB = new Set<number>();
      for (let tid = 0; tid < 256; tid++) {
        for (let j = 0; j < (DENSE_TILE * DENSE_BK) / 256; j++) {
          const a = aTileLoad(layout, tid, j);
          expect(a.r).toBeLessThan(DENSE_TILE);
          expect(a.kk).toBeLessThan(DENSE_BK);
          seenA.add(a.kk * DENSE_TILE + a.r);
          const b = bTileLoad(layout, tid, j);
          expect(b.c).toBeLessThan(DENSE_TILE);
          expect(b.kk).toBeLessThan(DENSE_BK);
          seenB.add(b.kk * DENSE_TILE + b.c);
        }
      }
      expect(seenA.size).toBe(DENSE_TILE * DENSE_BK);
      expect(seenB.size).toBe(DENSE_TILE * DENSE_BK);
    }
  });

  it('dispatches one workgroup per 64×64 output tile', () => {
    expect(denseDispatch(256, 128)).toEqual([2, 4, 1]);
    expect(denseDispatch(65, 10)).toEqual([1, 2, 1]);
  });
});

describe('dense block specs through the emulated kernel equal the plain tfjs block (cpu)', () => {
  // Partial tiles everywhere: T, d, w not multiples of 64 or 16; the slice smaller than the variable.
  const s: DenseShape = { T: 70, d: 37, w: 45, dMax: 50, wMax: 66 };
  const x = rand(s.T * s.d, 1);
  const W = rand(s.dMax * s.wMax, 2);
  const b = rand(s.wMax, 3);
  const dy = rand(s.T * s.w, 4);

  for (const act of ['relu', 'tanh', 'sigmoid', 'linear', 'gelu'] as GradActivation[]) {
    it(`${act}: forward, dx and the full-size dW`, () => {
      const xt = tf.tensor2d(x, [s.T, s.d]);
      const Wt = tf.tensor2d(W, [s.dMax, s.wMax]);
      const bt = tf.tensor1d(b);
      const dyt = tf.tensor2d(dy, [s.T, s.w]);
      const plain = (xi: tf.Tensor, wi: tf.Tensor) =>
        activate(tf.add(tf.matMul(xi as tf.Tensor2D, (wi as tf.Tensor2D).slice([0, 0], [s.d, s.w])), bt.slice(0, s.w)), act);
      const yRef = plain(xt, Wt);
      const [dxRef, dWRef] = tf.grads(plain)([xt, Wt], dyt);

      // GELU: the matmul writes z = x·W + b, a GELU kernel follows, and the backward reads z.
      const z = emulateDenseMatmul(denseForwardSpec(s, act), x, W, null, b);
      const y = act === 'gelu' ? z.map(geluApprox) : z;
      expect(maxRelErr(y, yRef.dataSync())).toBeLessThan(1e-5);
      const dx = emulateDenseMatmul(denseInputGradSpec(s, act), dy, W, z, null);
      expect(maxRelErr(dx, dxRef!.dataSync())).toBeLessThan(1e-5);
      const dW = emulateDenseMatmul(denseKernelGradSpec(s, act), x, dy, z, null);
      expect(dW.length).toBe(s.dMax * s.wMax);
      expect(maxRelErr(dW, dWRef!.dataSync())).toBeLessThan(1e-5);
      tf.dispose([xt, Wt, bt, dyt, yRef, dxRef!, dWRef!]);
    });
  }

  it('a linear block binds no activation input (the kernel would not reference it)', () => {
    expect(denseInputGradSpec(s, 'linear').gradOf).toBe('none');
    expect(denseKernelGradSpec(s, 'linear').gradOf).toBe('none');
    expect(denseInputGradSpec(s, 'gelu').gradOf).toBe('a');
  });

  it('the activation prologue matters: dx without it differs from the relu gradient', () => {
    const y = emulateDenseMatmul(denseForwardSpec(s, 'relu'), x, W, null, b);
    const withMask = emulateDenseMatmul(denseInputGradSpec(s, 'relu'), dy, W, y, null);
    const noMask = emulateDenseMatmul({ ...denseInputGradSpec(s, 'relu'), gradOf: 'none' }, dy, W, y, null);
    expect(maxRelErr(noMask, withMask)).toBeGreaterThan(1e-2);
  });
});
