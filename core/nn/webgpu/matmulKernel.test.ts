import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BASE_MATMUL_VARIANT,
  DEFAULT_MATMUL_VARIANT,
  fitMatmulVariant,
  MATMUL_VARIANTS,
  matmulKernelSource,
  matmulVariantChoice,
  matmulVariantProblem,
  matmulWorkgroupBytes,
  type MatmulMode,
  type MatmulVariant,
} from './matmulKernel.js';
import { GroupedMatmulProgram, matmulTuning, type WebGpuBackendLike } from './moeKernels.js';
import { startTestWebgpu } from './step/testWebgpu.js';

describe('matmul variants (no GPU)', () => {
  it('every named variant makes a kernel for every mode', () => {
    for (const [name, p] of Object.entries(MATMUL_VARIANTS)) {
      expect(matmulVariantProblem(p), name).toBeNull();
      for (const mode of ['nn', 'tn', 'nt'] as const) expect(matmulKernelSource(p, mode, { bias: false, relu: false, mask: false })).toContain('fn main');
    }
  });

  it('the default variant is the product kernel of matmulTuning (same WGSL)', () => {
    expect(DEFAULT_MATMUL_VARIANT).toBe('base');
    expect(fitMatmulVariant('base', 'nn', { M: 4096, N: 4096, K: 4096, routed: false }, 49152)).toBeNull();
    const legacy = new GroupedMatmulProgram(1, 300, 260, 'nn', 16, { bias: false, relu: false, mask: false }, matmulTuning.unroll, matmulTuning.stageAT, matmulTuning.stages);
    const named = new GroupedMatmulProgram(1, 300, 260, 'nn', 16, { bias: false, relu: false, mask: false }, false, false, 1, MATMUL_VARIANTS.base);
    expect(named.getUserCode()).toBe(legacy.getUserCode());
    expect(named.dispatch).toEqual(legacy.dispatch);
    expect(legacy.shaderKey).not.toBe(new GroupedMatmulProgram(1, 300, 260, 'nn', 16, { bias: false, relu: false, mask: false }, false, false, 1, MATMUL_VARIANTS.bk8).shaderKey);
  });

  it('fits a named variant to the product: unknown names throw, unaligned or routed products get guarded loads', () => {
    expect(() => fitMatmulVariant('nope', 'nn', { M: 128, N: 128, K: 64, routed: false }, 49152)).toThrow(/unknown matmul variant/);
    expect(fitMatmulVariant('aligned', 'nn', { M: 4096, N: 4096, K: 4096, routed: false }, 49152)?.guard).toBe('none');
    expect(fitMatmulVariant('aligned', 'nn', { M: 4000, N: 4096, K: 4096, routed: false }, 49152)?.guard).toBe('select');
    expect(fitMatmulVariant('aligned', 'tn', { M: 4096, N: 4096, K: 4096, routed: true }, 49152)?.guard).toBe('select');
    // 128×128 with BK 32 needs 32 KB + 4 B: too much for a 32 KB device → the default kernel.
    expect(matmulWorkgroupBytes(MATMUL_VARIANTS.bk32!, 'nn')).toBeGreaterThan(32768);
    expect(fitMatmulVariant('bk32', 'nn', { M: 4096, N: 4096, K: 4096, routed: false }, 32768)).toBeNull();
    expect(fitMatmulVariant('bk32', 'nn', { M: 4096, N: 4096, K: 4096, routed: false }, 49152)).toEqual(MATMUL_VARIANTS.bk32);
  });

  it('rejects parameters that leave threads without whole loads', () => {
    expect(matmulVariantProblem({ ...BASE_MATMUL_VARIANT, bm: 64, bn: 64, tm: 4, tn: 4, bk: 4 })).toMatch(/whole number/);
    expect(matmulVariantProblem({ ...BASE_MATMUL_VARIANT, tn: 4 })).toMatch(/threads/);
  });
});

// ---- every variant on the GPU (SwiftShader where there is none), against a plain fp64 product ----

let gpu = false;
beforeAll(async () => {
  gpu = await startTestWebgpu();
});
afterAll(() => {
  matmulVariantChoice.name = DEFAULT_MATMUL_VARIANT;
});

/** Values in [-0.5, 0.5), a fixed pseudo-random sequence per seed (fract of a scaled sine). */
const rand = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => {
  const x = Math.sin((i + 1) * 12.9898 + seed * 78.233) * 43758.5453;
  return x - Math.floor(x) - 0.5;
});

interface Case {
  mode: MatmulMode;
  batches: number;
  M: number;
  N: number;
  K: number;
  /** Per-batch kept count (rows for nn/nt, reduction for tn), or none. */
  counts?: number[];
  /** B shared by every batch (bBatch 0). */
  broadcastB?: boolean;
  epilogue?: { bias?: boolean; relu?: boolean; mask?: boolean };
}

/** out[e, m, n] by the documented semantics, in float64 loops; NaN where the kernel leaves the value undefined. */
function reference(c: Case, a: Float32Array, b: Float32Array, bias: Float32Array, mask: Float32Array): Float64Array {
  const { mode, batches: E, M, N, K } = c;
  const out = new Float64Array(E * M * N);
  for (let e = 0; e < E; e++) {
    const cnt = c.counts?.[e];
    const ao = e * M * K;
    const bo = c.broadcastB ? 0 : e * K * N;
    const kMax = mode === 'tn' && cnt != null ? cnt : K;
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) {
        const o = (e * M + m) * N + n;
        if (mode !== 'tn' && cnt != null && m >= cnt) {
          out[o] = NaN;
          continue;
        }
        let s = 0;
        for (let k = 0; k < kMax; k++) {
          const av = mode === 'tn' ? a[ao + k * M + m]! : a[ao + m * K + k]!;
          const bv = mode === 'nt' ? b[bo + n * K + k]! : b[bo + k * N + n]!;
          s += av * bv;
        }
        if (c.epilogue?.bias) s += bias[e * N + n]!;
        if (c.epilogue?.relu) s = Math.max(s, 0);
        if (c.epilogue?.mask && !(mask[o]! > 0)) s = 0;
        out[o] = s;
      }
    }
  }
  return out;
}

async function runCase(c: Case, variant: MatmulVariant, seed: number): Promise<number> {
  const { mode, batches: E, M, N, K } = c;
  const a = rand(E * M * K, seed);
  const b = rand((c.broadcastB ? 1 : E) * K * N, seed + 1);
  const bias = rand(E * N, seed + 2);
  const mask = rand(E * M * N, seed + 3);
  const route = c.counts ?? [0];
  const ep = { bias: !!c.epilogue?.bias, relu: !!c.epilogue?.relu, mask: !!c.epilogue?.mask };
  const program = new GroupedMatmulProgram(E, M, N, mode, variant.bk, ep, variant.unroll, variant.aStage === 'km', variant.stages, variant);
  const be = tf.backend() as unknown as WebGpuBackendLike;
  const ins = [tf.tensor1d(a), tf.tensor1d(b), tf.tensor1d(route, 'int32')];
  if (ep.bias) ins.push(tf.tensor1d(bias));
  if (ep.mask) ins.push(tf.tensor1d(mask));
  const uniforms = [M, N / 4, K, (M * K) / 4, c.broadcastB ? 0 : (K * N) / 4, c.counts ? 0 : -1].map((d) => ({ type: 'int32' as const, data: [d] }));
  const info = be.runWebGPUProgram(program, ins, 'float32', uniforms);
  const y = tf.engine().makeTensorFromTensorInfo(info);
  const got = (await y.data()) as Float32Array;
  tf.dispose([y, ...ins]);
  const want = reference(c, a, b, bias, mask);
  let num = 0;
  let den = 0;
  for (let i = 0; i < want.length; i++) {
    if (Number.isNaN(want[i])) continue;
    num = Math.max(num, Math.abs(got[i]! - want[i]!));
    den = Math.max(den, Math.abs(want[i]!));
  }
  return num / den;
}

// Ragged against every tile: 150 % 128 and % 64, 136 % 128 and % 64, K 84 % 8, 16 and 32 are all nonzero;
// tn needs M % 4 == 0. The routed counts cut inside a tile.
const RAGGED: Case[] = [
  { mode: 'nn', batches: 2, M: 150, N: 136, K: 84, counts: [150, 77], broadcastB: true },
  { mode: 'tn', batches: 2, M: 148, N: 136, K: 84, counts: [84, 37] },
  { mode: 'nt', batches: 2, M: 150, N: 136, K: 84 },
];
// guard 'none' is only for whole tiles (fitMatmulVariant): 128 and 64 are multiples of every tile and BK.
const ALIGNED: Case[] = [
  { mode: 'nn', batches: 1, M: 128, N: 128, K: 64 },
  { mode: 'tn', batches: 1, M: 128, N: 128, K: 64 },
  { mode: 'nt', batches: 1, M: 128, N: 128, K: 64 },
];

// SwiftShader compiles each kernel in 2–20 s, so every variant runs 'nn' (ragged, routed, broadcast B) and
// the variants below also run 'tn' and 'nt' (between them every guard, A staging, stage count, prefetch
// and tile geometry); SWITCHYARD_MATMUL_TEST_ALL=1 runs every mode of every variant. bench/matmulSweep.ts
// checks every variant in every mode on the GPU it times.
const ALL_MODES = new Set(['base', 'mk', 'select', 'aligned', 'noprefetch', 'db-bk8', '64x128-4x8', '128x64-8x4-db-select-swz8']);
const allModes = (name: string) => ALL_MODES.has(name) || process.env.SWITCHYARD_MATMUL_TEST_ALL === '1';

describe('every matmul variant on WebGPU equals the plain product (ragged edges, routed counts)', () => {
  for (const [name, p] of Object.entries(MATMUL_VARIANTS)) {
    it(name, async (ctx) => {
      if (!gpu) return ctx.skip();
      const limit = (tf.backend() as unknown as WebGpuBackendLike).device.limits.maxComputeWorkgroupStorageSize;
      const cases = (p.guard === 'none' ? ALIGNED : RAGGED).filter((c) => c.mode === 'nn' || allModes(name));
      let ran = 0;
      for (const [i, c] of cases.entries()) {
        // Kept in the sweep, skipped here: more workgroup memory than this device allows (the H200 has 48 KB).
        if (matmulWorkgroupBytes(p, c.mode) > limit) continue;
        const err = await runCase(c, p, 100 + i);
        expect(err, `${name} ${c.mode}`).toBeLessThan(1e-5);
        ran++;
      }
      if (ran === 0) ctx.skip();
    });
  }

  it('fuses bias, relu and mask in the store of other tilings too', async (ctx) => {
    if (!gpu) return ctx.skip();
    for (const name of ['base', '128x64-8x4-db-select-swz8']) {
      const p = MATMUL_VARIANTS[name]!;
      const err1 = await runCase({ mode: 'nn', batches: 2, M: 150, N: 136, K: 84, counts: [150, 90], epilogue: { bias: true, relu: true } }, p, 7);
      const err2 = await runCase({ mode: 'nn', batches: 2, M: 150, N: 136, K: 84, epilogue: { mask: true } }, p, 8);
      expect(err1, name).toBeLessThan(1e-5);
      expect(err2, name).toBeLessThan(1e-5);
    }
  });
});
