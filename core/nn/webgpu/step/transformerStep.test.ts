import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IGNORE_TARGET } from '../../../data/DatasetContract.js';
import { createRng } from '../../../space/rng.js';
import { SearchSpace, type Arch } from '../../../space/SearchSpace.js';
import { compareSteps, type StepCase } from '../../../train/compiledStepReference.js';
import { startTestWebgpu } from './testWebgpu.js';

const B = 3;
const T = 8;
const D = 16;

/** A sequence of T vectors (d = 16) through transformer blocks, mean-pooled into the head. */
function sequenceSpace(causal: boolean, length = T, dim = D) {
  return SearchSpace.parse({
    version: 1,
    name: 'compiled transformer test',
    input: { kind: 'sequence', length, dim },
    numClasses: 5,
    stages: [{ id: 't', depth: [1, 2], block: { type: 'transformer', heads: [1, 2], headDim: 8, mlpRatio: [1, 2], causal } }],
  });
}

// Not the largest everywhere: one head of two and a half-width FFN read slices of the supernet's variables.
const arch: Arch = {
  stages: [{ depth: 2, blocks: [{ heads: 2, mlpRatio: 2 }, { heads: 1, mlpRatio: 1 }] }],
} as Arch;

function sequenceCase(causal: boolean, kind: 'adam' | 'sgd', length = T, dim = D): StepCase {
  return {
    space: sequenceSpace(causal, length, dim),
    arch,
    batch: B,
    inputShape: [length, dim],
    kind,
    lr: kind === 'adam' ? 0.01 : 0.1,
    data(t) {
      const r = createRng(100 + t);
      return { x: Float32Array.from({ length: B * length * dim }, () => r.normal()), y: Int32Array.from({ length: B }, () => r.int(5)) };
    },
  };
}

let gpu = false;
beforeAll(async () => {
  gpu = await startTestWebgpu();
}, 60_000);
afterAll(async () => {
  await tf.setBackend('cpu');
});

async function check(c: StepCase, steps: number, tol: number) {
  const { ref, got, mismatches } = await compareSteps(c, steps, tol);
  for (let i = 0; i < steps; i++) expect(got.losses[i]).toBeCloseTo(ref.losses[i]!, 4);
  expect(got.correct).toEqual(ref.correct);
  // The update moved the weights: a step that updated nothing would repeat step 0's loss.
  expect(ref.losses[steps - 1]).not.toBeCloseTo(ref.losses[0]!, 3);
  expect(mismatches, JSON.stringify(mismatches)).toEqual([]);
  return got;
}

describe('compiled transformer block (pre-LN, dense FFN) against the trainer tfjs step', () => {
  for (const causal of [false, true]) {
    it(`${causal ? 'causal' : 'bidirectional'} attention, 3 sgd steps`, async (t) => {
      if (!gpu) t.skip();
      const got = await check(sequenceCase(causal, 'sgd'), 3, 2e-5);
      expect(got.dispatches).toBeGreaterThan(0);
    }, 300_000);
  }
  it('causal attention over 70 tokens (more rows than the kernel has threads), 2 sgd steps', async (t) => {
    if (!gpu) t.skip();
    await check(sequenceCase(true, 'sgd', 70), 2, 2e-5);
  }, 300_000);
  it('width 80 (a layer-norm lane holds two columns), 2 sgd steps', async (t) => {
    if (!gpu) t.skip();
    await check(sequenceCase(false, 'sgd', T, 80), 2, 2e-5);
  }, 300_000);
  it('causal attention, 3 adam steps', async (t) => {
    if (!gpu) t.skip();
    await check(sequenceCase(true, 'adam'), 3, 5e-4);
  }, 300_000);
});

/** A tiny character LM: token + position embedding, causal transformer blocks, a head at every position. */
const charLm = SearchSpace.parse({
  version: 1,
  name: 'compiled char-LM test',
  input: { kind: 'tokens', length: T, vocab: 12 },
  numClasses: 12,
  stages: [
    // 10 positions for 8 tokens: the step reads the first T rows of the position table.
    { id: 'embed', depth: [1], block: { type: 'tokenEmbedding', width: [12, 16], positions: 10 } },
    { id: 'attn', depth: [1, 2], block: { type: 'transformer', heads: [1, 2], headDim: 8, mlpRatio: [2, 4], causal: true } },
  ],
});

function charLmCase(kind: 'adam' | 'sgd' | 'momentum', arch: Arch, batch = B): StepCase {
  return {
    space: charLm,
    arch,
    batch,
    inputShape: [T],
    kind,
    lr: kind === 'adam' ? 0.01 : kind === 'momentum' ? 0.05 : 0.2,
    data(t) {
      const r = createRng(200 + t);
      // Ids as the trainer's float batch; targets one per position, the first 3 of each sequence unscored
      // (a sequence task's prompt): the loss is the mean over the other 5·B.
      const x = Float32Array.from({ length: batch * T }, () => r.int(12));
      const y = Int32Array.from({ length: batch * T }, (_, i) => (i % T < 3 ? IGNORE_TARGET : r.int(12)));
      return { x, y };
    },
  };
}

describe('compiled token embedding, token loss and a whole char-LM step against the trainer tfjs step', () => {
  const small: Arch = { stages: [{ depth: 1, blocks: [{ width: 12 }] }, { depth: 2, blocks: [{ heads: 2, mlpRatio: 4 }, { heads: 1, mlpRatio: 2 }] }] } as Arch;
  it('3 sgd steps at width 12 of 16 (table and positions sliced), ignored targets', async (t) => {
    if (!gpu) t.skip();
    await check(charLmCase('sgd', small), 3, 2e-5);
  }, 300_000);
  const largest: Arch = { stages: [{ depth: 1, blocks: [{ width: 16 }] }, { depth: 2, blocks: [{ heads: 2, mlpRatio: 4 }, { heads: 2, mlpRatio: 4 }] }] } as Arch;
  it('3 sgd steps, the largest subnet', async (t) => {
    if (!gpu) t.skip();
    await check(charLmCase('sgd', largest), 3, 2e-5);
  }, 300_000);
  it('3 sgd steps at 1024 rows (B 128): every weight gradient splits K (the table, the head too)', async (t) => {
    if (!gpu) t.skip();
    await check(charLmCase('sgd', largest, 128), 3, 2e-5);
  }, 300_000);
  // The reductions of split-K partials update several variables per kernel as the optimizer's slots
  // allow (SGD: Q, K, V and their biases in one; momentum: three; Adam: one each).
  it('3 adam steps at 1024 rows (one update per reduction kernel)', async (t) => {
    if (!gpu) t.skip();
    await check(charLmCase('adam', largest, 128), 3, 5e-4);
  }, 300_000);
  it('3 momentum steps at 1024 rows', async (t) => {
    if (!gpu) t.skip();
    await check(charLmCase('momentum', largest, 128), 3, 2e-5);
  }, 300_000);
  it('3 sgd steps at width 64 and 512 rows: no spare tile row for the biases, which take column sums', async (t) => {
    if (!gpu) t.skip();
    const wide = SearchSpace.parse({ ...charLm, stages: [{ id: 'embed', depth: [1], block: { type: 'tokenEmbedding', width: [64], positions: T } }, charLm.stages[1]!] });
    const arch = { stages: [{ depth: 1, blocks: [{ width: 64 }] }, { depth: 1, blocks: [{ heads: 2, mlpRatio: 2 }] }] } as Arch;
    await check({ ...charLmCase('sgd', arch, 64), space: wide }, 3, 2e-5);
  }, 300_000);
  it('3 adam steps, the largest subnet', async (t) => {
    if (!gpu) t.skip();
    // Adam moves every element by about ±lr whatever its gradient's size: an element whose gradient over
    // 3 sequences is small relative to its summation-order noise moves by a visible share of lr, so the bound
    // is looser than SGD's; a mis-wired update site still breaks it by orders of magnitude.
    await check(charLmCase('adam', largest), 3, 2e-3);
  }, 300_000);
});

/** A ViT-like space: 4 patches of 6 features, a patch embedding, a transformer block, the token mean. */
const vit = SearchSpace.parse({
  version: 1,
  name: 'compiled ViT test',
  input: { kind: 'sequence', length: 4, dim: 6 },
  numClasses: 3,
  stages: [
    { id: 'patch', depth: [1], block: { type: 'patchEmbedding', width: [8, 12], positions: 4 } },
    { id: 't', depth: [1], block: { type: 'transformer', heads: [2], headDim: 4, mlpRatio: [2] } },
  ],
});

describe('compiled patch embedding and token mean against the trainer tfjs step', () => {
  it('3 sgd steps at width 8 of 12', async (t) => {
    if (!gpu) t.skip();
    const arch = { stages: [{ depth: 1, blocks: [{ width: 8 }] }, { depth: 1, blocks: [{ heads: 2, mlpRatio: 2 }] }] } as Arch;
    await check(
      {
        space: vit,
        arch,
        batch: 4,
        inputShape: [4, 6],
        kind: 'sgd',
        lr: 0.2,
        data(t) {
          const r = createRng(300 + t);
          return { x: Float32Array.from({ length: 4 * 4 * 6 }, () => r.next()), y: Int32Array.from({ length: 4 }, () => r.int(3)) };
        },
      },
      3,
      2e-5,
    );
  }, 300_000);
});

/** char-lm-fortunes in small: a dense transformer stage, then one whose FFN is a top-2 MoE of 4 experts. */
const moeLm = SearchSpace.parse({
  version: 1,
  name: 'compiled MoE-transformer test',
  input: { kind: 'tokens', length: T, vocab: 12 },
  numClasses: 12,
  stages: [
    { id: 'embed', depth: [1], block: { type: 'tokenEmbedding', width: [16], positions: T } },
    { id: 'attn', depth: [1], block: { type: 'transformer', heads: [2], headDim: 8, mlpRatio: [2], causal: true } },
    {
      id: 'moe',
      depth: [1],
      block: { type: 'transformer', heads: [1, 2], headDim: 8, mlpRatio: [1, 2], causal: true, moe: { experts: 4, routing: { mode: 'topk', k: 2 }, auxLossWeight: 0.01 } },
    },
  ],
});

describe('compiled transformer block with an MoE FFN (moeStep.ts) against the trainer tfjs step', () => {
  it('3 sgd steps, top-2 of 4 experts at half the hidden width, balance loss', async (t) => {
    if (!gpu) t.skip();
    const arch = { stages: [{ depth: 1, blocks: [{ width: 16 }] }, { depth: 1, blocks: [{ heads: 2, mlpRatio: 2 }] }, { depth: 1, blocks: [{ heads: 2, mlpRatio: 1 }] }] } as Arch;
    const c = charLmCase('sgd', arch);
    await check({ ...c, space: moeLm }, 3, 2e-5);
  }, 300_000);
});
