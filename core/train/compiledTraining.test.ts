import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadDataset, type Dataset } from '../data/Dataset.js';
import { TrainConfig } from '../protocol/protocol.js';
import { SearchSpace } from '../space/SearchSpace.js';
import { buildSupernet } from '../nn/Supernet.js';
import { CompiledStep } from '../nn/webgpu/step/compiledStep.js';
import { startTestWebgpu } from '../nn/webgpu/step/testWebgpu.js';
import { train, type TrainerSink } from './Trainer.js';
import type { MetricPoint } from '../protocol/protocol.js';

const space = SearchSpace.parse({
  version: 1,
  name: 'compiled trainer test',
  input: { kind: 'vector', dim: 2 },
  numClasses: 3,
  stages: [
    { id: 's1', depth: [1, 2], block: { type: 'dense', width: [8, 16], activation: 'relu', residual: true } },
    { id: 's2', depth: [1], block: { type: 'dense', width: [4, 8], activation: 'tanh' } },
  ],
});

let ds: Dataset;
let gpu = false;
beforeAll(async () => {
  gpu = await startTestWebgpu();
  await tf.setBackend('cpu');
  ds = await loadDataset({ kind: 'gaussians', classes: 3, samples: 200, spread: 0.5, seed: 2 });
  tokenDs = await loadDataset({ kind: 'sequence-tasks', tasks: ['copy', 'reverse', 'sort'], length: 4, symbols: 5, samples: 200, seed: 1, valFraction: 0.1 } as never);
}, 60_000);
afterAll(async () => {
  await tf.setBackend('cpu');
});

// A token space: a causal transformer with a top-1 MoE FFN on the sequence tasks (per-position targets,
// the prompt's positions unscored).
const tokenSpace = SearchSpace.parse({
  version: 1,
  name: 'compiled trainer token test',
  input: { kind: 'tokens', length: 8, vocab: 6 },
  numClasses: 6,
  stages: [
    { id: 'emb', depth: [1], block: { type: 'tokenEmbedding', width: [8], positions: 8 } },
    { id: 'tf', depth: [1], block: { type: 'transformer', heads: [1, 2], headDim: 4, mlpRatio: [2], causal: true, moe: { experts: 2, routing: { mode: 'topk', k: 1 }, auxLossWeight: 0.01 } } },
  ],
});
let tokenDs: Dataset;

async function run(backend: 'cpu' | 'webgpu', compiledStep: boolean, which: 'vector' | 'tokens' = 'vector') {
  await tf.setBackend(backend);
  const sp = which === 'vector' ? space : tokenSpace;
  const data = which === 'vector' ? { kind: 'gaussians', classes: 3 } : { kind: 'sequence-tasks', length: 4, symbols: 5, samples: 200 };
  const config = TrainConfig.parse({ space: sp, data, steps: 6, batchSize: which === 'vector' ? 16 : 4, learningRate: 0.05, evalEvery: 6, checkpointEvery: 100, strategy: 'spos', optimizer: which === 'vector' ? 'adam' : 'sgd' });
  const net = buildSupernet(sp, { seed: 5 });
  const points: MetricPoint[] = [];
  const warnings: string[] = [];
  const sink: TrainerSink = { metrics: (p) => void points.push(...p), specialization: () => undefined, checkpoint: () => undefined };
  await train({ config, net, dataset: which === 'vector' ? ds : tokenDs, sink, compiledStep, onWarning: (w) => warnings.push(w) });
  const vars = new Map<string, Float32Array>();
  for (const [n, v] of net.namedVariables()) vars.set(n, (await v.data()) as Float32Array);
  net.dispose();
  return { points, vars, warnings };
}

/** max |have − want| over max(max |want|, floor). */
function scaledErr(have: Float32Array, want: Float32Array, floor: number): number {
  let err = 0;
  let scale = 0;
  for (let i = 0; i < want.length; i++) {
    err = Math.max(err, Math.abs(have[i]! - want[i]!));
    scale = Math.max(scale, Math.abs(want[i]!));
  }
  return err / Math.max(scale, floor);
}

describe('the trainer on WebGPU runs SPOS steps as compiled programs', () => {
  it('gives the CPU backend tfjs run: same losses and same weights after 6 sampled subnets', async (t) => {
    if (!gpu) t.skip();
    const ref = await run('cpu', false);
    const replays = vi.spyOn(CompiledStep.prototype, 'run');
    const got = await run('webgpu', true);
    // Every one of the 6 steps ran as a compiled program (the tfjs path on WebGPU would give the same numbers).
    expect(replays).toHaveBeenCalledTimes(6);
    replays.mockRestore();
    expect(got.warnings.filter((w) => w.includes('compiled'))).toEqual([]);
    expect(got.points.map((p) => p.step)).toEqual(ref.points.map((p) => p.step));
    for (let i = 0; i < ref.points.length; i++) {
      expect(got.points[i]!.loss).toBeCloseTo(ref.points[i]!.loss, 4);
      expect(got.points[i]!.accuracy).toBeCloseTo(ref.points[i]!.accuracy, 6);
      expect(got.points[i]!.archVector).toEqual(ref.points[i]!.archVector);
    }
    // Adam divides by √v: fp32 rounding differences of tiny gradients grow over 6 steps at lr 0.05 (the
    // losses above agree to 1e-4; a missing or wrong update moves weights by ~lr, 0.05).
    for (const [name, want] of ref.vars) expect(scaledErr(got.vars.get(name)!, want, 1e-12), name).toBeLessThan(5e-4);
  }, 180_000);

  it('runs a token space (causal transformer, MoE FFN, unscored prompt positions) like the CPU backend', async (t) => {
    if (!gpu) t.skip();
    const ref = await run('cpu', false, 'tokens');
    const replays = vi.spyOn(CompiledStep.prototype, 'run');
    const got = await run('webgpu', true, 'tokens');
    expect(replays).toHaveBeenCalledTimes(6);
    replays.mockRestore();
    expect(got.warnings.filter((w) => w.includes('compiled'))).toEqual([]);
    for (let i = 0; i < ref.points.length; i++) {
      expect(got.points[i]!.loss).toBeCloseTo(ref.points[i]!.loss, 4);
      expect(got.points[i]!.accuracy).toBeCloseTo(ref.points[i]!.accuracy, 6);
      expect(got.points[i]!.moe![0]!.load).toEqual(ref.points[i]!.moe![0]!.load.map((v) => expect.closeTo(v, 5)));
    }
    // Floor 1e-2: attention's key bias has a gradient of exactly 0 in exact arithmetic (it adds q·b to a
    // whole score row), so both sides only move it by rounding noise from zero.
    for (const [name, want] of ref.vars) expect(scaledErr(got.vars.get(name)!, want, 1e-2), name).toBeLessThan(5e-5);
  }, 240_000);
});
