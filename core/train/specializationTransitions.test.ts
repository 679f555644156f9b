/**
 * The cross-layer routing view's numbers (RMoE): transitions[e′][e] counts held-out tokens whose top expert
 * is e′ at one MoE layer and e at the next — checked against the layers' top experts of one forward pass.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadDataset } from '../data/Dataset.js';
import { buildSupernet } from '../nn/Supernet.js';
import { DatasetConfig } from '../protocol/protocol.js';
import { largestArch } from '../space/archCodec.js';
import { SearchSpace } from '../space/SearchSpace.js';
import { computeSpecialization } from './specialization.js';
import { spiralsWith } from './spiralsRun.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('specialization: cross-layer transitions', () => {
  it('counts top expert at layer l−1 → top expert at l over the held-out tokens', async () => {
    const space = SearchSpace.parse(spiralsWith({ mode: 'rmoe', hidden: 8 }, { depth: [3] }));
    const net = buildSupernet(space, { seed: 3 });
    const ds = await loadDataset(DatasetConfig.parse({ kind: 'spirals', samples: 1200, seed: 2 }));
    const n = ds.val.n;
    const arch = largestArch(space);
    const spec = await computeSpecialization(net, arch, ds, 0, { samples: n });
    expect(spec.layers).toHaveLength(3);
    expect(spec.layers[0]!.transitions).toBeUndefined();
    const tops = tf.tidy(() => net.apply(tf.tensor2d(ds.val.x.subarray(0, 2 * n), [n, 2]), arch, { training: false }).moe.map((l) => Array.from(l.topExpert.dataSync())));
    for (const li of [1, 2]) {
      const expected = [0, 1, 2, 3].map((a) => [0, 1, 2, 3].map((b) => tops[li - 1]!.filter((e, t) => e === a && tops[li]![t] === b).length));
      expect(spec.layers[li]!.transitions).toEqual(expected);
    }
    expect(spec.layers[1]!.transitions!.flat().reduce((a, b) => a + b, 0)).toBe(n);
    net.dispose();
  });
});
