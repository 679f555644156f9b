import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SearchSpace, type Arch } from '../../../space/SearchSpace.js';
import { compiledSteps, relErr, tfjsSteps, type StepCase } from '../../../train/compiledStepReference.js';
import { PathOptimizer, type OptimizerKind } from '../../../train/PathOptimizer.js';
import { buildSupernet } from '../../Supernet.js';
import { CompiledStep } from './compiledStep.js';
import { startTestWebgpu } from './testWebgpu.js';

// Conv stages at stride 1 and 2 (asymmetric 'same' padding: 12 → 6 with k5, 6 → 3 with k3), BatchNorm with
// relu and GELU, a bias-only conv with tanh, OFA's kernel transformation (7 → 5 → 3 and 5 → 3), an identity
// op, global average pooling, a dense layer, the head.
const space = SearchSpace.parse({
  version: 1,
  name: 'compiled conv step test',
  input: { kind: 'image', height: 12, width: 12, channels: 1 },
  numClasses: 5,
  stages: [
    { id: 'c1', depth: [1], block: { type: 'conv', channels: [6, 8], kernel: [3, 5, 7], stride: 1, kernelTransform: true } },
    { id: 'c2', depth: [1, 2], block: { type: 'conv', channels: [8, 12], kernel: [3, 5], stride: 2, activation: 'gelu', kernelTransform: true } },
    { id: 'c3', depth: [1, 2], block: { type: 'conv', channels: [8, 12], kernel: [3], stride: 1, activation: 'tanh', batchNorm: false, ops: ['conv', 'identity'] } },
    { id: 'd', depth: [1], block: { type: 'dense', width: [10, 16], activation: 'relu' } },
  ],
});
// Every kernel a slice of a larger variable: c1 kernel 3 of 7 (two transformations) and 6 of 8 channels; c2.b0
// the full 5×5 (no transformation) and 12 channels, c2.b1 3 of 5 (transformed) on its 12 inputs → 8; c3.b0
// identity, c3.b1 reads 8 of its 12 inputs.
const arch: Arch = {
  stages: [
    { depth: 1, blocks: [{ op: 'conv', channels: 6, kernel: 3 }] },
    { depth: 2, blocks: [{ op: 'conv', channels: 12, kernel: 5 }, { op: 'conv', channels: 8, kernel: 3 }] },
    { depth: 2, blocks: [{ op: 'identity' }, { op: 'conv', channels: 12, kernel: 3 }] },
    { depth: 1, blocks: [{ op: 'dense', width: 10 }] },
  ],
} as Arch;

// 8 × 12 × 12 = 1152 rows at c1: its filter gradient splits K in 4 (recordDw); kept small for SwiftShader.
const B = 8;
const INPUT = 12 * 12;
function data(step: number) {
  let s = 4242 + step * 7919;
  const rnd = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0), s / 2 ** 32);
  const x = Float32Array.from({ length: B * INPUT }, () => rnd() * 2 - 1);
  const y = Int32Array.from({ length: B }, () => Math.floor(rnd() * 5));
  return { x, y };
}

const stepCase = (kind: OptimizerKind): StepCase => ({ space, arch, batch: B, inputShape: [12, 12, 1], data, kind, lr: 0.02, seed: 5 });

/** The variables as the supernet starts (the same seed as both paths). */
async function initialVariables(): Promise<Map<string, Float32Array>> {
  const net = buildSupernet(space, { seed: 5 });
  const out = new Map<string, Float32Array>();
  for (const [n, v] of net.namedVariables()) out.set(n, (await v.data()) as Float32Array);
  net.dispose();
  return out;
}

/** The labels of the compiled step's dispatches (which mechanisms it recorded). */
function recordedLabels(): string[] {
  const net = buildSupernet(space, { seed: 5 });
  const opt = new PathOptimizer('sgd', 0.02, net.namedVariables());
  const step = CompiledStep.build(net, arch, B, INPUT, opt);
  if (typeof step === 'string') throw new Error(step);
  const labels = step.program.labels();
  step.dispose();
  opt.dispose();
  net.dispose();
  return labels;
}

let gpu = false;
beforeAll(async () => {
  gpu = await startTestWebgpu();
}, 60_000);
afterAll(async () => {
  await tf.setBackend('cpu');
});

describe('compiled WebGPU step of conv blocks (BatchNorm, bias, elastic kernel and channels)', () => {
  for (const kind of ['adam', 'sgd'] as const) {
    it(`matches the trainer's tfjs step on the CPU backend, 3 ${kind} steps`, async (t) => {
      if (!gpu) t.skip();
      await tf.setBackend('cpu');
      const init = await initialVariables();
      const c = stepCase(kind);
      const ref = await tfjsSteps(c, 3);
      await tf.setBackend('webgpu');
      const got = await compiledSteps(c, 3);
      // The mechanisms this test covers are all recorded: split-K filter gradient, BatchNorm, the bias path.
      const labels = recordedLabels();
      expect(labels).toContain('c1.b0.dW.splitK');
      expect(labels).toContain('c2.b1.bn.dy');
      expect(labels).toContain('c3.b1.db');
      expect(labels.some((l) => l.startsWith('c1.b0.dx'))).toBe(false);
      // dx: stride 2 through dCols + col2im, stride 1 as one gathering product.
      expect(labels).toEqual(expect.arrayContaining(['c2.b0.dcols', 'c2.b0.col2im', 'c2.b1.col2im', 'c3.b1.dx']));
      expect(labels).toEqual(expect.arrayContaining(['c1.b0.ktrans7to5', 'c1.b0.ktrans5to3.dT', 'c1.b0.ktrans7to5.dK', 'c2.b1.ktrans5to3']));
      expect(labels.some((l) => l.startsWith('c2.b0.ktrans'))).toBe(false);
      for (let i = 0; i < 3; i++) expect(got.losses[i]).toBeCloseTo(ref.losses[i]!, 4);
      expect(ref.losses[2]).not.toBeCloseTo(ref.losses[0]!, 3);
      for (const [name, want] of ref.vars) {
        const have = got.vars.get(name)!;
        expect(have, name).toBeDefined();
        // Adam's first steps move a weight by ≈ lr·m/√v, which for an element of small gradient amplifies
        // the f32 summation-order noise of its gradient (BatchNorm's backward subtracts near-equal terms),
        // and the next steps' gradients are taken at those weights: moments and weights within 2–2.5e-4.
        if (kind === 'sgd') {
          // SGD's change of a variable is lr × its summed gradients: compared as such, a precise gradient check.
          const before = init.get(name)!;
          expect(relErr(have.map((v, i) => v - before[i]!), want.map((v, i) => v - before[i]!)), name).toBeLessThan(5e-5);
        } else expect(relErr(have, want), name).toBeLessThan(name.includes('#') ? 2e-4 : 2.5e-4);
      }
      // Running statistics moved on the used channels only (c1 uses 6 of 8).
      const mean = got.vars.get('c1.b0.bn.mean')!;
      expect(Math.max(...Array.from(mean.slice(0, 6), Math.abs))).toBeGreaterThan(0);
      expect(Array.from(mean.slice(6))).toEqual([0, 0]);
    }, 300_000);
  }
});
