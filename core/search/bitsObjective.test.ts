/**
 * Size in bits as a search objective (the blocks' `bits` choice, issue 15): the evaluation prices every
 * subnet as stored (its graph's codes + steps: core/nn/graph/storage.ts), and a search on accuracy × bits
 * prefers fewer bits at equal accuracy. The run's dense kernels are set to ±m per entry, which every bit
 * width stores exactly (the 2-bit grid is {−m, 0, m}), so every bits choice has the same accuracy and only the
 * size can order them.
 */
import * as tf from '@tensorflow/tfjs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../nn/backend.js';
import { EventHub } from '../protocol/EventHub.js';
import { createRng } from '../space/rng.js';
import { SearchSpace } from '../space/SearchSpace.js';
import { createTestRun } from './createTestRun.js';
import { SearchManager } from './SearchManager.js';

let runsDir: string;
let runId: string;

const SPACE = SearchSpace.parse({
  name: 'bits objective',
  input: { kind: 'vector', dim: 2 },
  numClasses: 3,
  stages: [
    { id: 's1', depth: [1], block: { type: 'dense', width: [16], activation: 'relu', bits: [2, 4, 8, 32] } },
    { id: 's2', depth: [1], block: { type: 'dense', width: [16], activation: 'relu', bits: [3, 32] } },
  ],
});

beforeAll(async () => {
  await selectBackend('cpu');
  runsDir = join(await mkdtemp(join(tmpdir(), 'sy-bits-')), 'runs');
  runId = await createTestRun(
    runsDir,
    { space: SPACE, data: { kind: 'spirals', classes: 3, samples: 400, noise: 0.2, seed: 2 }, backend: 'cpu' },
    {
      prepare: (net) => {
        const rng = createRng(4);
        for (const [name, v] of net.namedVariables()) {
          if (!name.endsWith('.dense.kernel')) continue;
          const signs = Float32Array.from({ length: v.size }, () => (rng.next() < 0.5 ? -0.25 : 0.25));
          v.assign(tf.tensor(signs, v.shape));
        }
      },
    },
  );
});
afterAll(() => tf.disposeVariables());

describe('the bits objective', () => {
  it('prices subnets as stored and puts the fewest-bits subnet alone on the front at equal accuracy', async () => {
    const m = new SearchManager({ runsDir, hub: new EventHub(), backend: 'cpu', timing: { batchSize: 1, warmup: 1, runs: 2 } });
    const { searchId } = await m.start({ runId, strategy: 'nsga2', objectives: ['accuracy', 'bits'], population: 8, generations: 3, evalSamples: 100, seed: 1 });
    const s = await m.wait(searchId);
    expect(s.status).toBe('completed');
    const bitsOf = (r: (typeof s.evaluated)[number]) => r.arch.stages.map((st) => st.blocks[0]!.bits);
    // Every bit width stores ±m exactly: one accuracy for all.
    expect(new Set(s.evaluated.map((r) => r.accuracy)).size).toBe(1);
    // Sizes as stored: 2 → 16·2 codes + 16 steps + 16 biases per stage-1 kernel, and so on; float is 32 a number.
    const byKey = new Map(s.evaluated.map((r) => [bitsOf(r).join(','), r.bits!]));
    const float = byKey.get('32,32');
    expect(float).toBe(32 * s.evaluated[0]!.params);
    const head = 32 * (16 * 3 + 3);
    const stage = (inDim: number, bits: number) => (bits === 32 ? 32 * (inDim * 16 + 16) : bits * inDim * 16 + 32 * 16 + 32 * 16);
    for (const [key, bits] of byKey) {
      const [b1, b2] = key.split(',').map(Number) as [number, number];
      expect(bits).toBe(stage(2, b1) + stage(16, b2) + head);
    }
    // The search found the smallest encoding and the front holds it alone.
    expect(byKey.has('2,3')).toBe(true);
    expect(s.front.map((id) => bitsOf(s.evaluated[id]!).join(','))).toEqual(['2,3']);
    // Without it (accuracy × params: every bits choice ties), the front keeps the first evaluation, the float largest.
    const other = await m.wait((await m.start({ runId, strategy: 'nsga2', objectives: ['accuracy', 'params'], population: 8, generations: 3, evalSamples: 100, seed: 1 })).searchId);
    expect(other.front.map((id) => bitsOf(other.evaluated[id]!).join(','))).toEqual(['32,32']);
  });
});
