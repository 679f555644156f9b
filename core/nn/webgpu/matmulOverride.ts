/**
 * tf.matMul on WebGPU through the project's tiled fp32 matmul (GroupedMatmulProgram, moeKernels.ts; the
 * kernel variant from matmulKernel.ts, default 128×128 tiles)
 * where it is faster than tfjs-webgpu's MatMulPacked: the BatchMatMul kernel is re-registered for the
 * 'webgpu' backend; products the big kernel does not take (see `fastMatmulPlan`) go to tfjs' own kernel.
 *
 * Same values as tfjs' kernel up to fp32 summation order (bench/checkMatmulKernel.ts compares both with
 * PyTorch on the GPU).
 */
import * as tf from '@tensorflow/tfjs';
import { groupedMatmulProgram, type WebGpuBackendLike } from './moeKernels.js';

/** The product's operands as BatchMatMul sees them (rank ≥ 2, leading dims = batch). */
export interface MatmulShape {
  aShape: readonly number[];
  bShape: readonly number[];
  transposeA: boolean;
  transposeB: boolean;
  dtype: string;
}

export interface FastMatmulPlan {
  mode: 'nn' | 'tn';
  batches: number;
  M: number;
  N: number;
  K: number;
  /** Elements between consecutive batches of a and b (0: broadcast one matrix to every batch). */
  aBatch: number;
  bBatch: number;
}

/** Fewest 128×128 output tiles for the big kernel to pay (fewer: tfjs' split-K / small-tile kernels win). */
export const FAST_MATMUL_MIN_TILES = 64;

/**
 * How the big kernel computes this product, or null when it should not: fp32 only, no transposed B (the
 * kernel reads B as [K, N]), M (for Aᵀ), N and K multiples of 4 (vec4 loads), batch dims equal or one side
 * unbatched, M, N ≥ 128 (a narrower product wastes most of a 128-wide tile), at least FAST_MATMUL_MIN_TILES
 * output tiles and K ≥ 64.
 */
export function fastMatmulPlan(s: MatmulShape): FastMatmulPlan | null {
  if (s.dtype !== 'float32' || s.transposeB || s.aShape.length < 2 || s.bShape.length < 2) return null;
  const ra = s.aShape.length;
  const rb = s.bShape.length;
  const M = s.transposeA ? s.aShape[ra - 1]! : s.aShape[ra - 2]!;
  const K = s.transposeA ? s.aShape[ra - 2]! : s.aShape[ra - 1]!;
  const N = s.bShape[rb - 1]!;
  if (s.bShape[rb - 2] !== K) return null;
  const ba = s.aShape.slice(0, -2).reduce((p, d) => p * d, 1);
  const bb = s.bShape.slice(0, -2).reduce((p, d) => p * d, 1);
  if (ba !== bb && ba !== 1 && bb !== 1) return null;
  if (N % 4 !== 0 || K % 4 !== 0 || (s.transposeA && M % 4 !== 0) || K < 64 || M < 128 || N < 128) return null;
  const batches = Math.max(ba, bb);
  if (batches * Math.ceil(M / 128) * Math.ceil(N / 128) < FAST_MATMUL_MIN_TILES) return null;
  return { mode: s.transposeA ? 'tn' : 'nn', batches, M, N, K, aBatch: ba === 1 ? 0 : M * K, bBatch: bb === 1 ? 0 : K * N };
}

/** How many BatchMatMul calls took the big kernel (benchmarks and checks read it). */
export const fastMatmulStats = { fast: 0, fallback: 0 };
/** Benchmarks switch the override off to time tfjs' own kernel side by side. */
export const fastMatmul = { enabled: true };

let installed = false;
let reshapeKernel: ReturnType<typeof tf.getKernel> | null = null;

/** Re-registers BatchMatMul on 'webgpu' (idempotent; call with the webgpu backend active). */
export function installFastMatmul(): void {
  if (installed) return;
  const original = tf.getKernel('BatchMatMul', 'webgpu');
  if (!original || tf.getBackend() !== 'webgpu') return;
  installed = true;
  // The grouped kernel reads per-expert row counts only when countOff ≥ 0; it still binds a table.
  const noRoute = tf.keep(tf.tensor1d([0], 'int32'));
  tf.unregisterKernel('BatchMatMul', 'webgpu');
  tf.registerKernel({
    kernelName: 'BatchMatMul',
    backendName: 'webgpu',
    kernelFunc: (args) => {
      const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
      const { transposeA, transposeB } = args.attrs as unknown as { transposeA: boolean; transposeB: boolean };
      const plan = fastMatmul.enabled && fastMatmulPlan({ aShape: a.shape, bShape: b.shape, transposeA, transposeB, dtype: a.dtype });
      if (!plan) {
        fastMatmulStats.fallback++;
        return original.kernelFunc(args);
      }
      fastMatmulStats.fast++;
      const be = args.backend as unknown as WebGpuBackendLike;
      // The kernel variant comes from SWITCHYARD_MATMUL_VARIANT (matmulKernel.ts; default: today's kernel).
      const program = groupedMatmulProgram(be, { ...plan, routed: false }, plan.mode, { bias: false, relu: false, mask: false });
      const out = be.runWebGPUProgram(program, [a, b, noRoute], 'float32', [plan.M, plan.N / 4, plan.K, plan.aBatch / 4, plan.bBatch / 4, -1].map((d) => ({ type: 'int32' as const, data: [d] })));
      // BatchMatMul's output keeps the broadcast batch dims of its inputs (as tfjs' kernel: reshape, then
      // drop the rank-3 intermediate).
      const outer = (a.shape.length >= b.shape.length ? a.shape : b.shape).slice(0, -2);
      const shape = [...outer, plan.M, plan.N];
      if (shape.length === 3 && shape[0] === plan.batches) return out;
      reshapeKernel ??= tf.getKernel('Reshape', 'webgpu');
      const res = reshapeKernel.kernelFunc({ inputs: { x: out }, backend: args.backend, attrs: { shape } }) as tf.TensorInfo;
      (args.backend as unknown as { disposeData(id: unknown): void }).disposeData(out.dataId);
      return res;
    },
  });
}
