import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BASE_MATMUL_VARIANT,
  DEFAULT_MATMUL_VARIANT,
  fitMatmulVariant,
  MATMUL_VARIANTS,
  matmulKernelSource,
  matmulVariantChoice,
  matmulVariantKey,
  matmulVariantProblem,
  matmulWorkgroupBytes,
  type MatmulVariant,
} from './matmulKernel.js';
import { matmulOperand, matmulRelErr, referenceMatmul, type MatmulCase } from './matmulReference.js';
import { GroupedMatmulProgram, groupedMatmulProgram, matmulTuning, type WebGpuBackendLike } from './moeKernels.js';
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

  it('the float64 reference equals tf.matMul on the cpu backend in every mode', async () => {
    const prev = tf.getBackend();
    await tf.setBackend('cpu');
    const [M, N, K] = [7, 12, 9];
    const a = matmulOperand(M * K, 1);
    const b = matmulOperand(K * N, 2);
    for (const mode of ['nn', 'tn', 'nt'] as const) {
      const ta = mode === 'tn' ? tf.tensor2d(a, [K, M]) : tf.tensor2d(a, [M, K]);
      const tb = mode === 'nt' ? tf.tensor2d(b, [N, K]) : tf.tensor2d(b, [K, N]);
      const y = tf.matMul(ta, tb, mode === 'tn', mode === 'nt');
      expect(matmulRelErr(await y.data(), referenceMatmul({ mode, batches: 1, M, N, K }, a, b)), mode).toBeLessThan(1e-6);
      tf.dispose([ta, tb, y]);
    }
    if (prev) await tf.setBackend(prev);
  });

  it('the product takes the variant matmulVariantChoice names (SWITCHYARD_MATMUL_VARIANT)', () => {
    const backend = { device: { limits: { maxComputeWorkgroupStorageSize: 49152 } } } as unknown as WebGpuBackendLike;
    const shape = { batches: 1, M: 4096, N: 4096, K: 4096, routed: false };
    const ep = { bias: false, relu: false, mask: false };
    try {
      matmulVariantChoice.name = '128x64-select-swz8';
      const p = groupedMatmulProgram(backend, shape, 'nn', ep);
      expect(p.shaderKey).toContain(matmulVariantKey(MATMUL_VARIANTS['128x64-select-swz8']!));
      expect(p.workgroupSize).toEqual([8, 16, 1]);
      expect(p.dispatch).toEqual([64, 32, 1]);
    } finally {
      matmulVariantChoice.name = DEFAULT_MATMUL_VARIANT;
    }
    expect(groupedMatmulProgram(backend, shape, 'nn', ep).shaderKey).toBe('swMoeGmm_nn_16_false_false_false_true_true_1');
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

async function runCase(c: MatmulCase, variant: MatmulVariant, seed: number): Promise<number> {
  const { mode, batches: E, M, N, K } = c;
  const a = matmulOperand(E * M * K, seed);
  const b = matmulOperand((c.broadcastB ? 1 : E) * K * N, seed + 1);
  const bias = matmulOperand(E * N, seed + 2);
  const mask = matmulOperand(E * M * N, seed + 3);
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
  return matmulRelErr(got, referenceMatmul(c, a, b, bias, mask));
}

// Ragged against every tile: 150 % 128 and % 64, 136 % 128 and % 64, K 84 % 8, 16 and 32 are all nonzero;
// tn needs M % 4 == 0. The routed counts cut inside a tile.
const RAGGED: MatmulCase[] = [
  { mode: 'nn', batches: 2, M: 150, N: 136, K: 84, counts: [150, 77], broadcastB: true },
  { mode: 'tn', batches: 2, M: 148, N: 136, K: 84, counts: [84, 37] },
  { mode: 'nt', batches: 2, M: 150, N: 136, K: 84 },
];
// guard 'none' is only for whole tiles (fitMatmulVariant): 128 and 64 are multiples of every tile and BK.
const ALIGNED: MatmulCase[] = [
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
