import { describe, expect, it } from 'vitest';
import { clusterByRouterWeights, inputNorms, representatives, wandaPrune } from './stun.js';

describe('STUN', () => {
  it('clusters experts by router-weight similarity and keeps the most used of each cluster', () => {
    // Router [dim 3, 4 experts]: columns 0 and 2 point the same way, 1 and 3 another.
    const kernel = Float32Array.from([
      1, 0, 0.9, 0.1,
      0, 1, 0.1, 1.1,
      0.2, 0, 0.25, 0,
    ]);
    const router = { kernel, bias: null, inDim: 3, outDim: 4 };
    const clusters = clusterByRouterWeights(router, [0, 1, 2, 3], 2);
    expect(clusters).toEqual([[0, 2], [1, 3]]);
    expect(representatives(clusters, [1, 5, 9, 2])).toEqual([1, 2]);
    expect(() => clusterByRouterWeights(router, [0, 1], 3)).toThrow(/keep/);
  });

  it('Wanda prunes by |w|·‖x‖ per output, not by magnitude alone', () => {
    // Kernel [3 inputs, 2 outputs]. Input 0 has large weights but a tiny activation norm.
    const kernel = Float32Array.from([
      2, -3,
      0.5, 0.4,
      -1, 1,
    ]);
    const x = Float32Array.from([0.01, 3, 1, -0.01, -2, 1]); // 2 rows of 3 features
    const norms = inputNorms(x, 2, 3);
    expect(norms[0]).toBeCloseTo(Math.hypot(0.01, 0.01), 7);
    expect(norms[1]).toBeCloseTo(Math.hypot(3, 2), 6);
    const { kernel: pruned, pruned: zeros } = wandaPrune(kernel, 3, 2, norms, 0.34);
    // Scores: input 0 → 2·0.014, 3·0.014; input 1 → 0.5·3.6, 0.4·3.6; input 2 → 1·1.41, 1·1.41.
    // One per output is dropped: input 0 in both (magnitude pruning would drop input 1).
    expect([...pruned]).toEqual([0, 0, 0.5, 0.4, -1, 1].map(Math.fround));
    expect(zeros).toBe(2);
    expect(() => wandaPrune(kernel, 3, 2, [1, 1], 0.5)).toThrow(/norms/);
  });
});
