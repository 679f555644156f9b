import { describe, expect, it } from 'vitest';
import { fastMatmulPlan } from './matmulOverride.js';

const plan = (aShape: number[], bShape: number[], transposeA = false, transposeB = false, dtype = 'float32') => fastMatmulPlan({ aShape, bShape, transposeA, transposeB, dtype });

describe('fastMatmulPlan', () => {
  it('takes a large fp32 A·B and Aᵀ·B with the operand layouts the grouped kernel reads', () => {
    expect(plan([4096, 4096], [4096, 4096])).toEqual({ mode: 'nn', batches: 1, M: 4096, N: 4096, K: 4096, aBatch: 0, bBatch: 0 });
    // Aᵀ·B: a is stored [K, M].
    expect(plan([2048, 2048], [2048, 1024], true)).toEqual({ mode: 'tn', batches: 1, M: 2048, N: 1024, K: 2048, aBatch: 0, bBatch: 0 });
  });

  it('steps batches by one matrix, or by 0 for an unbatched operand (broadcast)', () => {
    expect(plan([8, 512, 256], [8, 256, 512])).toMatchObject({ batches: 8, aBatch: 512 * 256, bBatch: 256 * 512 });
    expect(plan([3, 1000, 512], [512, 260])).toMatchObject({ batches: 3, M: 1000, aBatch: 1000 * 512, bBatch: 0 });
  });

  it('leaves to tfjs what the kernel cannot or should not compute', () => {
    expect(plan([1024, 1024], [512, 1024], false, true)).toBeNull(); // Bᵀ
    expect(plan([4096, 4096], [4096, 4096], false, false, 'int32')).toBeNull();
    expect(plan([4096, 4094], [4094, 4096])).toBeNull(); // K not a multiple of 4
    expect(plan([4096, 4096], [4096, 4098])).toBeNull(); // N not a multiple of 4
    expect(plan([256, 784], [784, 128])).toBeNull(); // 2 tiles: tfjs' small-output kernels win
    expect(plan([8192, 512], [512, 8])).toBeNull(); // a narrow product wastes most of a 128-wide tile
    expect(plan([2, 512, 256], [3, 256, 512])).toBeNull(); // batch dims that do not broadcast
    expect(plan([512, 256], [512, 256])).toBeNull(); // inner dims differ
  });
});
