import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SearchSpace, type Arch } from '../../../space/SearchSpace.js';
import { compiledSteps, relErr, tfjsSteps, type StepCase } from '../../../train/compiledStepReference.js';
import { PathOptimizer, type OptimizerKind } from '../../../train/PathOptimizer.js';
import { buildSupernet } from '../../Supernet.js';
import { CompiledStep, StepCache } from './compiledStep.js';
import type { StepResources } from './program.js';
import { startTestWebgpu } from './testWebgpu.js';

const space = SearchSpace.parse({
  version: 1,
  name: 'compiled-step test',
  input: { kind: 'vector', dim: 20 },
  numClasses: 5,
  stages: [
    { id: 's1', depth: [1], block: { type: 'dense', width: [16, 24], activation: 'relu' } },
    { id: 's2', depth: [1, 2], block: { type: 'dense', width: [16, 24], activation: 'gelu', residual: true, ops: ['dense', 'identity'] } },
    { id: 's3', depth: [1], block: { type: 'dense', width: [8, 12], activation: 'tanh' } },
    { id: 's4', depth: [1], block: { type: 'dense', width: [6], activation: 'sigmoid' } },
  ],
});
// Not the largest: every kernel is read as a slice of a larger variable.
const arch: Arch = {
  stages: [
    { depth: 1, blocks: [{ op: 'dense', width: 16 }] },
    { depth: 2, blocks: [{ op: 'dense', width: 16 }, { op: 'dense', width: 24 }] },
    { depth: 1, blocks: [{ op: 'dense', width: 8 }] },
    { depth: 1, blocks: [{ op: 'dense', width: 6 }] },
  ],
} as Arch;

const B = 64;
function data(step: number) {
  let s = 12345 + step * 7919;
  const rnd = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0), s / 2 ** 32);
  const x = Float32Array.from({ length: B * 20 }, () => rnd() * 2 - 1);
  const y = Int32Array.from({ length: B }, () => Math.floor(rnd() * 5));
  return { x, y };
}

const stepCase = (kind: OptimizerKind): StepCase => ({ space, arch, batch: B, inputShape: [20], data, kind, lr: 0.05 });

let gpu = false;
beforeAll(async () => {
  gpu = await startTestWebgpu();
}, 60_000);
afterAll(async () => {
  await tf.setBackend('cpu');
});

describe('compiled WebGPU step (dense blocks, cross-entropy, lazy optimizer)', () => {
  for (const kind of ['adam', 'sgd', 'momentum'] as const) {
    it(`matches the trainer's tfjs step on the CPU backend, 3 ${kind} steps`, async (t) => {
      if (!gpu) t.skip();
      await tf.setBackend('cpu');
      const ref = await tfjsSteps(stepCase(kind), 3);
      await tf.setBackend('webgpu');
      const got = await compiledSteps(stepCase(kind), 3);
      for (let i = 0; i < 3; i++) expect(got.losses[i]).toBeCloseTo(ref.losses[i]!, 4);
      // Losses fall: the update moves the weights (a step that updated nothing would repeat step 0's loss).
      expect(ref.losses[2]).not.toBeCloseTo(ref.losses[0]!, 3);
      for (const [name, want] of ref.vars) {
        const have = got.vars.get(name)!;
        expect(have, name).toBeDefined();
        // Adam normalises by √v, so fp32 rounding differences of small gradients grow (~lr·δg/g); a missing or
        // wrong update is off by ~lr = 0.05 of weights of size ~0.3.
        expect(relErr(have, want), name).toBeLessThan(kind === 'adam' ? 5e-4 : 2e-5);
      }
      expect(got.correct).toEqual(ref.correct);
    }, 120_000);
  }
});

describe('StepCache', () => {
  it('rebuilds a cached step once tfjs re-allocates a variable it binds (an assign, a checkpoint load)', async (t) => {
    if (!gpu) t.skip();
    await tf.setBackend('webgpu');
    const net = buildSupernet(space, { seed: 3 });
    const opt = new PathOptimizer('sgd', 0.05, net.namedVariables());
    const cache = new StepCache();
    const build = (shared: StepResources) => CompiledStep.build(net, arch, B, 20, opt, shared);
    const first = cache.get({ arch, batch: B }, build);
    if (typeof first === 'string') throw new Error(first);
    expect(cache.get({ arch, batch: B }, build)).toBe(first);
    expect(first.valid()).toBe(true);
    const kernel = net.namedVariables().get('s1.b0.dense.kernel')!;
    kernel.assign(tf.tidy(() => tf.mul(kernel, 0.5)));
    expect(first.valid()).toBe(false);
    const second = cache.get({ arch, batch: B }, build);
    expect(second).not.toBe(first);
    expect(typeof second !== 'string' && second.valid()).toBe(true);
    cache.dispose();
    opt.dispose();
    net.dispose();
  }, 60_000);
});
