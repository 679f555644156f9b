import fs from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MoEBlock, SearchSpace, type Arch } from '../../../space/SearchSpace.js';
import { relErr } from '../../../train/compiledStepReference.js';
import { crossEntropy } from '../../../train/evaluate.js';
import { PathOptimizer, type OptimizerKind } from '../../../train/PathOptimizer.js';
import { buildSupernet } from '../../Supernet.js';
import { MoELayer } from '../../moe/MoELayer.js';
import { VariableStore } from '../../init.js';
import { createRng } from '../../../space/rng.js';
import { CompiledStep } from './compiledStep.js';
import { moeNotCompiled, readMoEReport, type MoEReportNumbers } from './moeStep.js';
import { startTestWebgpu } from './testWebgpu.js';

interface Case {
  name: string;
  space: SearchSpace;
  arch: Arch;
  batch: number;
  inputDim: number;
  seed: number;
  kind?: OptimizerKind;
  lr?: number;
  /** Per-sample input shape (default [inputDim]). */
  inputShape?: number[];
}

/** A dense stem (width 16 of 24) and an MoE block (hidden `hidden` of [16, 24]) over 20 inputs, 5 classes. */
function stemAndMoE(moe: Record<string, unknown>, hidden: number): { space: SearchSpace; arch: Arch } {
  const space = SearchSpace.parse({
    version: 1,
    name: 'compiled MoE step test',
    input: { kind: 'vector', dim: 20 },
    numClasses: 5,
    stages: [
      { id: 'stem', depth: [1], block: { type: 'dense', width: [16, 24], activation: 'relu' } },
      { id: 'moe', depth: [1], block: { type: 'moe', expertHidden: [16, 24], ...moe } },
    ],
  });
  const arch = { stages: [{ depth: 1, blocks: [{ op: 'dense', width: 16 }] }, { depth: 1, blocks: [{ expertHidden: hidden }] }] } as Arch;
  return { space, arch };
}

function data(c: Case, step: number) {
  let s = 12345 + step * 7919 + c.seed;
  const rnd = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0), s / 2 ** 32);
  const x = Float32Array.from({ length: c.batch * c.inputDim }, () => rnd() * 2 - 1);
  const y = Int32Array.from({ length: c.batch }, () => Math.floor(rnd() * c.space.numClasses));
  return { x, y };
}

async function reportOf(m: { load: tf.Tensor; dropped: tf.Tensor; entropy: tf.Tensor; auxLoss: tf.Tensor | null; meanActive: tf.Tensor }): Promise<MoEReportNumbers> {
  return {
    load: Array.from(await m.load.data()),
    dropped: (await m.dropped.data())[0]!,
    entropy: (await m.entropy.data())[0]!,
    auxLoss: m.auxLoss ? (await m.auxLoss.data())[0]! : NaN,
    meanActive: (await m.meanActive.data())[0]!,
  };
}

async function snapshot(net: ReturnType<typeof buildSupernet>, opt: PathOptimizer) {
  const out = new Map<string, Float32Array>();
  for (const [n, v] of net.namedVariables()) out.set(n, (await v.data()) as Float32Array);
  for (const [n, v] of net.namedVariables()) for (const [i, s] of opt.slotsOf(v).entries()) out.set(`${n}#${i}`, (await s.data()) as Float32Array);
  return out;
}

/** The trainer's tfjs step (cross-entropy + the layers' weighted aux losses, variableGrads, PathOptimizer). */
async function tfjsSteps(c: Case, steps: number) {
  const net = buildSupernet(c.space, { seed: c.seed });
  const opt = new PathOptimizer(c.kind ?? 'adam', c.lr ?? 0.05, net.namedVariables());
  const losses: number[] = [];
  const reports: MoEReportNumbers[] = [];
  for (let t = 0; t < steps; t++) {
    const { x, y } = data(c, t);
    const xs = tf.tensor(x, [c.batch, ...(c.inputShape ?? [c.inputDim])]);
    const ys = tf.tensor1d(y, 'int32');
    let kept: tf.Tensor[] = [];
    let ceKept: tf.Tensor | null = null;
    let report: Parameters<typeof reportOf>[0] | null = null;
    const { value, grads } = tf.variableGrads(() => {
      const out = net.apply(xs, c.arch, { training: true });
      const ce = crossEntropy(out.logits, ys);
      const m = out.moe[0]!;
      report = m;
      kept = [m.load, m.dropped, m.entropy, m.meanActive, ...(m.auxLoss ? [m.auxLoss] : [])].map((k) => tf.keep(k));
      ceKept = tf.keep(ce);
      return tf.add(ce, out.auxLoss) as tf.Scalar;
    }, net.trainableVariables());
    losses.push((await ceKept!.data())[0]!);
    reports.push(await reportOf(report!));
    opt.apply(new Map(net.trainableVariables().flatMap((v) => (grads[v.name] ? [[v, grads[v.name]!] as [tf.Variable, tf.Tensor]] : []))));
    tf.dispose([xs, ys, value, ceKept!, ...kept, ...Object.values(grads)]);
  }
  const vars = await snapshot(net, opt);
  opt.dispose();
  net.dispose();
  return { losses, reports, vars };
}

async function compiledSteps(c: Case, steps: number) {
  const net = buildSupernet(c.space, { seed: c.seed });
  const opt = new PathOptimizer(c.kind ?? 'adam', c.lr ?? 0.05, net.namedVariables());
  const step = CompiledStep.build(net, c.arch, c.batch, c.inputDim, opt);
  if (typeof step === 'string') throw new Error(step);
  expect(step.moeReports.map((r) => r.layer)).toEqual(net.moeLayers().map((l) => l.name));
  const losses: number[] = [];
  const reports: MoEReportNumbers[] = [];
  for (let t = 0; t < steps; t++) {
    const { x, y } = data(c, t);
    step.setBatch(x, y);
    step.run(opt.stepValues());
    opt.countUpdates(step.updated);
    const s = await step.stats();
    losses.push(s.loss);
    reports.push(readMoEReport(step.moeReports[0]!, s.all));
  }
  const vars = await snapshot(net, opt);
  const dispatches = step.dispatchCount;
  step.dispose();
  opt.dispose();
  net.dispose();
  return { losses, reports, vars, dispatches };
}

async function compare(c: Case) {
  await tf.setBackend('cpu');
  const ref = await tfjsSteps(c, 3);
  await tf.setBackend('webgpu');
  const got = await compiledSteps(c, 3);
  for (let i = 0; i < 3; i++) {
    expect(got.losses[i], `loss ${i}`).toBeCloseTo(ref.losses[i]!, 4);
    const [g, r] = [got.reports[i]!, ref.reports[i]!];
    expect(g.load.length).toBe(r.load.length);
    g.load.forEach((v, e) => expect(v, `load ${e} step ${i}`).toBeCloseTo(r.load[e]!, 6));
    expect(g.dropped, `dropped ${i}`).toBeCloseTo(r.dropped, 6);
    expect(g.entropy, `entropy ${i}`).toBeCloseTo(r.entropy, 5);
    expect(g.auxLoss, `auxLoss ${i}`).toBeCloseTo(r.auxLoss, 5);
    expect(g.meanActive, `meanActive ${i}`).toBeCloseTo(r.meanActive, 6);
  }
  // The update moved the weights (a step that updated nothing would repeat step 0's loss).
  expect(ref.losses[2]).not.toBeCloseTo(ref.losses[0]!, 3);
  for (const [name, want] of ref.vars) {
    const have = got.vars.get(name);
    expect(have, name).toBeDefined();
    // SGD is linear in the gradient: the two agree to fp32 rounding. Adam divides by √v, so rounding
    // differences of tiny gradients grow over the steps (as in core/train/compiledTraining.test.ts); a
    // missing or wrong update moves weights by ~lr.
    expect(relErr(have!, want), name).toBeLessThan((c.kind ?? 'adam') === 'adam' ? 5e-4 : 2e-5);
  }
  return { ref, got };
}

let gpu = false;
beforeAll(async () => {
  gpu = await startTestWebgpu();
}, 60_000);
afterAll(async () => {
  await tf.setBackend('cpu');
});

describe('compiled WebGPU MoE step vs the trainer tfjs step (CPU backend), 3 Adam steps', () => {
  it('top-2 ReLU, 8 experts, capacity 1.25 in rank priority (drops tokens), renormalised gates', async (t) => {
    if (!gpu) t.skip();
    const { space, arch } = stemAndMoE({ experts: 8, activation: 'relu', routing: { mode: 'topk', k: 2 }, capacityFactor: 1.25, auxLossWeight: 0.05 }, 16);
    const { ref } = await compare({ name: 'a', space, arch, batch: 64, inputDim: 20, seed: 3 });
    // Capacity ceil(2·1.25·64/8) = 20 per expert: some assignments are dropped.
    expect(ref.reports.every((r) => r.dropped > 0)).toBe(true);
  }, 300_000);

  it('the same with SGD (linear in the gradient: agreement to fp32 rounding)', async (t) => {
    if (!gpu) t.skip();
    const { space, arch } = stemAndMoE({ experts: 8, activation: 'relu', routing: { mode: 'topk', k: 2 }, capacityFactor: 1.25, auxLossWeight: 0.05 }, 16);
    await compare({ name: 'a-sgd', space, arch, batch: 64, inputDim: 20, seed: 3, kind: 'sgd', lr: 0.1 });
  }, 300_000);

  it('1024 tokens: several tokens per thread in the capacity scans, split-K weight gradients (SGD)', async (t) => {
    if (!gpu) t.skip();
    const { space, arch } = stemAndMoE({ experts: 6, activation: 'relu', routing: { mode: 'topk', k: 2 }, capacityFactor: 1.1, auxLossWeight: 0.05 }, 16);
    const { ref } = await compare({ name: 'a-1024', space, arch, batch: 1024, inputDim: 20, seed: 23, kind: 'sgd', lr: 0.1 });
    expect(ref.reports.every((r) => r.dropped > 0)).toBe(true);
  }, 300_000);

  it('top-2 ReLU, 5 experts, capacity 1.0 in token priority (drops tokens)', async (t) => {
    if (!gpu) t.skip();
    const { space, arch } = stemAndMoE({ experts: 5, activation: 'relu', routing: { mode: 'topk', k: 2 }, capacityFactor: 1.0, capacityPriority: 'token', auxLossWeight: 0.05 }, 24);
    const { ref } = await compare({ name: 'a2', space, arch, batch: 64, inputDim: 20, seed: 11 });
    expect(ref.reports.every((r) => r.dropped > 0)).toBe(true);
  }, 300_000);

  it('top-2 GELU, 4 experts, no capacity (nothing dropped)', async (t) => {
    if (!gpu) t.skip();
    const { space, arch } = stemAndMoE({ experts: 4, activation: 'gelu', routing: { mode: 'topk', k: 2 }, capacityFactor: null, auxLossWeight: 0.1 }, 16);
    const { ref } = await compare({ name: 'b', space, arch, batch: 64, inputDim: 20, seed: 5 });
    expect(ref.reports.every((r) => r.dropped === 0)).toBe(true);
  }, 300_000);

  it('top-1 ReLU (raw gates), 4 experts, capacity 1.0, no residual', async (t) => {
    if (!gpu) t.skip();
    const { space, arch } = stemAndMoE({ experts: 4, activation: 'relu', routing: { mode: 'topk', k: 1 }, capacityFactor: 1.0, auxLossWeight: 0.1, residual: false }, 24);
    await compare({ name: 'c', space, arch, batch: 64, inputDim: 20, seed: 7 });
  }, 300_000);

  it('assets/spaces/moe-relu-topk.json (dense stem + top-2 MoE of 8 ReLU experts) through CompiledStep.build', async (t) => {
    if (!gpu) t.skip();
    const space = SearchSpace.parse(JSON.parse(fs.readFileSync(new URL('../../../../assets/spaces/moe-relu-topk.json', import.meta.url), 'utf8')));
    const arch = { stages: [{ depth: 1, blocks: [{ op: 'dense', width: 96 }] }, { depth: 1, blocks: [{ expertHidden: 128 }] }] } as Arch;
    // lr 0.005: at 0.05 Adam's first step on 784 inputs sends the loss from 2.3 to 6.8.
    await compare({ name: 'moe-relu-topk', space, arch, batch: 64, inputDim: 784, seed: 13, lr: 0.005 });
    // Its largest subnet at batch 256: how many dispatches one step replays.
    await tf.setBackend('webgpu');
    const net = buildSupernet(space, { seed: 1 });
    const opt = new PathOptimizer('adam', 0.05, net.namedVariables());
    const largest = { stages: [{ depth: 1, blocks: [{ op: 'dense', width: 128 }] }, { depth: 1, blocks: [{ expertHidden: 256 }] }] } as Arch;
    const step = CompiledStep.build(net, largest, 256, 784, opt);
    if (typeof step === 'string') throw new Error(step);
    console.log(`moe-relu-topk largest, batch 256: ${step.dispatchCount} dispatches per step`);
    // Stem 3 (first layer: no dx), MoE 9 forward + 40 backward (8 experts), head 4, loss 2.
    expect(step.dispatchCount).toBe(58);
    step.dispose();
    opt.dispose();
    net.dispose();
  }, 300_000);

  it('assets/spaces/spirals-moe.json (two dense stem blocks + top-2 MoE of 4 GELU experts), its largest subnet, SGD', async (t) => {
    if (!gpu) t.skip();
    const space = SearchSpace.parse(JSON.parse(fs.readFileSync(new URL('../../../../assets/spaces/spirals-moe.json', import.meta.url), 'utf8')));
    const arch = { stages: [{ depth: 2, blocks: [{ op: 'dense', width: 64 }, { op: 'dense', width: 64 }] }, { depth: 1, blocks: [{ expertHidden: 64 }] }] } as Arch;
    // SGD: two inputs make many near-zero stem gradients, whose fp32 rounding Adam's first steps turn into ±lr.
    await compare({ name: 'spirals-moe', space, arch, batch: 64, inputDim: 2, seed: 17, kind: 'sgd', lr: 0.1 });
  }, 300_000);

  it('assets/spaces/fashion-conv-supernet.json: conv stages, global average pooling, the top-2 GELU MoE head (SGD)', async (t) => {
    if (!gpu) t.skip();
    const space = SearchSpace.parse(JSON.parse(fs.readFileSync(new URL('../../../../assets/spaces/fashion-conv-supernet.json', import.meta.url), 'utf8')));
    const arch = {
      stages: [
        { depth: 1, blocks: [{ op: 'conv', channels: 8, kernel: 3 }] },
        { depth: 1, blocks: [{ op: 'conv', channels: 16, kernel: 3 }] },
        { depth: 1, blocks: [{ op: 'conv', channels: 24, kernel: 3 }] },
        { depth: 1, blocks: [{ expertHidden: 32 }] },
      ],
    } as Arch;
    await compare({ name: 'fashion-conv', space, arch, batch: 16, inputDim: 784, inputShape: [28, 28, 1], seed: 19, kind: 'sgd', lr: 0.05 });
  }, 300_000);
});

describe('what the compiled MoE step refuses (the trainer then runs tfjs ops)', () => {
  const layer = (b: Record<string, unknown>) => new MoELayer('m.b0', MoEBlock.parse({ type: 'moe', experts: 4, expertHidden: [8], ...b }), 8, new VariableStore(), createRng(1));
  it('names the option', () => {
    expect(moeNotCompiled(layer({ activation: 'relu' }), { expertHidden: 8 })).toBeNull();
    expect(moeNotCompiled(layer({ sharedExperts: 1 }), { expertHidden: 8 })).toMatch(/shared experts are not compiled/);
    expect(moeNotCompiled(layer({ nullExperts: 1 }), { expertHidden: 8 })).toMatch(/null experts/);
    expect(moeNotCompiled(layer({ routing: { mode: 'topp', p: 0.5 } }), { expertHidden: 8 })).toMatch(/topp routing/);
    expect(moeNotCompiled(layer({ routerJitter: 0.01 }), { expertHidden: 8 })).toMatch(/jitter/);
    expect(moeNotCompiled(layer({ zLossWeight: 0.001 }), { expertHidden: 8 })).toMatch(/z-loss/);
    expect(moeNotCompiled(layer({ activation: 'tanh' }), { expertHidden: 8 })).toMatch(/tanh experts/);
    expect(moeNotCompiled(layer({ routing: { mode: 'topk', k: 2, biasUpdateRate: 0.001 } }), { expertHidden: 8 })).toMatch(/selection bias/);
    expect(moeNotCompiled(layer({}), { expertHidden: 8, bits: 4 })).toMatch(/fake-quantised/);
  });
});
