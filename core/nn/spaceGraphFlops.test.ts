/** The space graph's FLOPs against the supernet's own count (an independent computation of the same figure). */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { largestArch, sampleArch, smallestArch } from '../space/archCodec.js';
import { listExampleSpaces } from '../space/exampleSpaces.js';
import { createRng } from '../space/rng.js';
import { spaceGraph } from '../space/spaceGraph.js';
import { validateSpace } from '../space/validateSpace.js';
import { spiralsWith } from '../train/spiralsRun.js';
import { buildSupernet } from './Supernet.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('spaceGraph FLOPs', () => {
  it.each([
    ...listExampleSpaces().map((e) => ({ id: e.id, input: e.space })),
    // A router whose cost is not x · W (RMoE: projection, GRU cell, read-out from the state).
    { id: 'spirals-moe with RMoE', input: spiralsWith({ mode: 'rmoe', hidden: 8 }, { depth: [2] }) },
  ])('$id: per-node FLOPs sum to the untrained supernet count', ({ input }) => {
    const r = validateSpace(input);
    if (!r.ok) throw new Error(r.issues[0]!.message);
    const net = buildSupernet(r.space, { seed: 1 });
    try {
      const rng = createRng(3);
      for (const arch of [largestArch(r.space), smallestArch(r.space), sampleArch(r.space, rng)]) {
        const total = spaceGraph(r.space, arch).reduce((n, x) => n + x.flops, 0);
        expect(total).toBeCloseTo(net.countFlops(arch), 6);
      }
    } finally {
      net.dispose?.();
    }
  });
});
