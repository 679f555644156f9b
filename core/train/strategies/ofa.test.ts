/** Once-for-All progressive shrinking: the phase schedule, sorting at the width phases (weights and optimizer
 * state together, once), CE + KD for the shrunk subnets from the frozen full network — each against an
 * independent computation. */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadDataset } from '../../data/Dataset.js';
import { OfaSupernet } from '../../nn/OfaSupernet.js';
import { TrainConfig, type MetricPoint } from '../../protocol/protocol.js';
import { largestArch, smallestArch, validateArch } from '../../space/archCodec.js';
import { listExampleSpaces } from '../../space/exampleSpaces.js';
import { createRng } from '../../space/rng.js';
import { SearchSpace } from '../../space/SearchSpace.js';
import type { Checkpoint } from '../checkpointFormat.js';
import { PathOptimizer } from '../PathOptimizer.js';
import { train } from '../Trainer.js';
import { OFA_PHASES, ofa, ofaPhaseIndex, sampleInPhase, type OfaState } from './ofa.js';
import type { StrategyContext } from './TrainingStrategy.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const conv = SearchSpace.parse(listExampleSpaces().find((e) => e.id === 'fashion-conv-supernet')!.space);
const mlp = SearchSpace.parse(listExampleSpaces().find((e) => e.id === 'fashion-mlp-supernet')!.space);

const ctxAt = (space: SearchSpace, progress: number, state: OfaState = { sorted: [], teacherStep: null }): StrategyContext<OfaState> => ({
  space, rng: createRng(3), largest: largestArch(space), smallest: smallestArch(space), evalArch: largestArch(space), step: 0, steps: 100, progress, state,
});

/** A 40-step ofa run of a small residual dense space on 3-class gaussians. */
async function gaussiansRun(evalEvery: number) {
  const space = SearchSpace.parse({
    version: 1, name: 'ofa run', input: { kind: 'vector', dim: 2 }, numClasses: 3,
    stages: [{ id: 's', depth: [1, 2], block: { type: 'dense', width: [4, 8, 16], activation: 'relu', ops: ['dense', 'identity'], residual: true } }],
  });
  const ds = await loadDataset({ kind: 'gaussians', classes: 3, samples: 300, spread: 0.5, seed: 2 });
  const config = TrainConfig.parse({ space, data: { kind: 'gaussians', classes: 3 }, strategy: 'ofa', steps: 40, batchSize: 16, evalEvery, checkpointEvery: 1000 });
  return { space, ds, config };
}

describe('ofa progressive shrinking', () => {
  it('phases follow OFA\'s epochs (180, 120, 25, 120, 25, 120 of 590) and each allows only its dimensions', () => {
    expect(ofaPhaseIndex(0)).toBe(0);
    expect(ofaPhaseIndex(179.9 / 590)).toBe(0);
    expect(ofaPhaseIndex(180.1 / 590)).toBe(1);
    expect(ofaPhaseIndex(300.1 / 590)).toBe(2);
    expect(ofaPhaseIndex(325.1 / 590)).toBe(3);
    expect(ofaPhaseIndex(445.1 / 590)).toBe(4);
    expect(ofaPhaseIndex(470.1 / 590)).toBe(5);
    expect(ofaPhaseIndex(0.9999)).toBe(5);
    // Independent: per stage, the values a phase may use are the n largest (n = 1, 2 or all).
    const rng = createRng(1);
    const top = (xs: readonly number[], n: number) => [...xs].sort((a, b) => b - a).slice(0, n);
    const limits = { full: [1, 1, 1], kernel: [Infinity, 1, 1], 'depth-1': [Infinity, 2, 1], 'depth-2': [Infinity, Infinity, 1], 'width-1': [Infinity, Infinity, 2], 'width-2': [Infinity, Infinity, Infinity] } as const;
    OFA_PHASES.forEach((phase, p) => {
      const [kN, dN, wN] = limits[phase.name];
      const used = conv.stages.map(() => ({ k: new Set<number>(), d: new Set<number>(), w: new Set<number>() }));
      for (let i = 0; i < 300; i++) {
        sampleInPhase(conv, rng, OFA_PHASES[p]!).stages.forEach((st, si) => {
          used[si]!.d.add(st.depth);
          for (const b of st.blocks) {
            if (b.kernel) used[si]!.k.add(b.kernel);
            if (b.channels ?? b.width) used[si]!.w.add((b.channels ?? b.width)!);
          }
        });
      }
      conv.stages.forEach((st, si) => {
        const b = st.block;
        const want = (vals: readonly number[], n: number) => new Set(top(vals, n));
        expect(used[si]!.d).toEqual(want(st.depth, dN));
        if (b.type === 'conv') {
          expect(used[si]!.k).toEqual(want(b.kernel, kN));
          expect(used[si]!.w).toEqual(want(b.channels, wN));
        } else if (b.type === 'dense') expect(used[si]!.w).toEqual(want(b.width, wN));
      });
    });
  });

  it('keeps dimensions it has no phase for (the bits choice) at the largest, so every sample is a valid arch', () => {
    const space = SearchSpace.parse(listExampleSpaces().find((e) => e.id === 'fashion-moe-bits')!.space);
    const rng = createRng(3);
    for (const phase of OFA_PHASES) {
      for (let i = 0; i < 20; i++) {
        const arch = sampleInPhase(space, rng, phase);
        expect(validateArch(space, arch)).toEqual([]);
        expect(arch.stages.map((s) => s.blocks[0]!.bits)).toEqual([32, 32]);
      }
    }
  });

  it("plans: the largest alone in the full phase, then OFA's dynamic_batch_size sampled subnets (1, 2, 4) with the teacher's logits", async () => {
    const net = new OfaSupernet(mlp, 4);
    const xs = tf.zeros([3, 784]);
    const ys = tf.tensor1d([0, 1, 2], 'int32');
    const frozen = (): OfaState => ({ sorted: [], teacherStep: 0 });
    const full = await ofa.plan(ctxAt(mlp, 0), { net, xs, ys });
    expect(full.arches).toEqual([largestArch(mlp)]);
    expect(full.teacher).toBeUndefined();
    for (const [progress, n] of [[0.4, 1], [0.6, 2], [0.9, 4]] as const) {
      const plan = await ofa.plan(ctxAt(mlp, progress, frozen()), { net, xs, ys });
      expect(plan.arches).toHaveLength(n);
      expect(plan.teacher!.shape).toEqual([3, 10]);
      plan.teacher!.dispose();
    }
    tf.dispose([xs, ys]);
    net.dispose();
  });

  it('the width phases sort the channels once, with the optimizer moments reordered as the weights', () => {
    const net = new OfaSupernet(mlp, 4);
    const vars = net.student.namedVariables();
    const opt = new PathOptimizer('adam', 0.01, net.namedVariables());
    // Non-uniform weights and moments, so a reordering shows.
    const rng = createRng(2);
    const grads = new Map([...vars.values()].filter((v) => v.trainable).map((v) => [v, tf.tensor(Array.from({ length: v.size }, () => rng.normal()), v.shape)] as const));
    opt.apply(grads);
    const name = 's1.b0.dense.kernel';
    const w0 = vars.get(name)!.arraySync() as number[][];
    const m0 = opt.getState().slots.find((s) => s.name === `${name}#0`)!;
    const state: OfaState = { sorted: [], teacherStep: null };
    ofa.beforeStep!(ctxAt(mlp, 0.3, state), { net, optimizer: opt } as never);
    expect(vars.get(name)!.arraySync()).toEqual(w0);
    ofa.beforeStep!(ctxAt(mlp, 460 / 590, state), { net, optimizer: opt } as never);
    expect(state.sorted).toEqual(['width-1']);
    const w1 = vars.get(name)!.arraySync() as number[][];
    // Recover the column permutation from the weights, then check the Adam first moment moved the same way.
    const perm = w1[0]!.map((v) => w0[0]!.indexOf(v));
    expect(perm.some((p, i) => p !== i)).toBe(true);
    const m1 = opt.getState().slots.find((s) => s.name === `${name}#0`)!;
    const cols = m0.shape[1]!;
    for (let r = 0; r < m0.shape[0]!; r += 97) for (let c = 0; c < cols; c++) expect(m1.data[r * cols + c]).toBe(m0.data[r * cols + perm[c]!]);
    // The same phase again: no second sort.
    ofa.beforeStep!(ctxAt(mlp, 465 / 590, state), { net, optimizer: opt } as never);
    expect(vars.get(name)!.arraySync()).toEqual(w1);
    opt.dispose();
    net.dispose();
  });

  it('a shrunk subnet\'s loss is CE + 1.0 × soft CE against the teacher\'s logits (not an earlier subnet\'s)', () => {
    const s = tf.tensor2d([[0, 1, 0], [1, 1, -2]]);
    const t = tf.tensor2d([[2, 0, -1], [0.5, 0.2, 3]]);
    const labels = tf.tensor1d([1, 2], 'int32');
    const sm = (r: number[]) => { const e = r.map(Math.exp); const z = e.reduce((a, b) => a + b); return e.map((v) => v / z); };
    const S = s.arraySync(), T = t.arraySync();
    const ce = -(Math.log(sm(S[0]!)[1]!) + Math.log(sm(S[1]!)[2]!)) / 2;
    const kd = -S.reduce((acc, row, i) => acc + sm(T[i]!).reduce((a, p, c) => a + p * Math.log(sm(row)[c]!), 0), 0) / 2;
    const other = tf.tensor2d([[0, 0, 5], [5, 0, 0]]);
    const out = ofa.loss!({ index: 1, arch: largestArch(mlp), logits: s, labels, sampleWeights: null, taskLoss: tf.scalar(ce), earlier: [other], teacher: t }, ctxAt(mlp, 0.9));
    expect(out.total.dataSync()[0]).toBeCloseTo(ce + kd, 5);
    expect(out.kd!.dataSync()[0]).toBeCloseTo(kd, 5);
  });

  it('trains from the registry through every phase, sorting at both width phases', async () => {
    const { space, ds, config } = await gaussiansRun(5);
    const points: MetricPoint[] = [];
    const ckpts: Checkpoint[] = [];
    await train({ config, net: new OfaSupernet(space, 1), dataset: ds, sink: { metrics: (p) => void points.push(...p), specialization: () => {}, checkpoint: (c) => void ckpts.push(c) }, snapshots: 0 });
    // The teacher is frozen at the first step past the full phase (180/590 of 40 steps = 12.2).
    expect(ckpts.at(-1)!.meta.strategyState).toEqual({ sorted: ['width-1', 'width-2'], teacherStep: 13 });
    expect(points[0]!.kdLoss).toBeUndefined();
    expect(points.at(-1)!.kdLoss).toBeTypeOf('number');
    expect(points.filter((p) => p.strategy).map((p) => p.strategy!.phase)).toEqual([0, 0, 1, 1, 3, 3, 5, 5]);
  });

  it('the teacher is the full network as the full phase left it, frozen: its logits do not change across student steps', async () => {
    const { space, ds, config } = await gaussiansRun(40);
    const net = new OfaSupernet(space, 1);
    const probe = tf.tensor2d(Array.from({ length: 12 }, (_, i) => Math.sin(i * 1.7)), [6, 2]);
    const largest = largestArch(space);
    // After each step: the teacher's and the student's full network on a fixed probe batch.
    const teacherAt: number[][][] = [];
    const studentAt: number[][][] = [];
    await train({
      config, net, dataset: ds, snapshots: 0,
      sink: { metrics: () => {}, specialization: () => {}, checkpoint: () => {} },
      onStep: () => {
        teacherAt.push(tf.tidy(() => net.applyTeacher(probe, { training: true }).logits.arraySync()));
        studentAt.push(tf.tidy(() => net.student.apply(probe, largest, { training: true }).logits.arraySync()));
      },
    });
    // Step 13 (index 13, the 14th step) is the first past the full phase: the teacher is frozen before it.
    const frozenAt = 13;
    // It copies the full network exactly as the last full-phase step left it...
    expect(teacherAt[frozenAt]).toEqual(studentAt[frozenAt - 1]);
    expect(teacherAt[frozenAt - 1]).not.toEqual(studentAt[frozenAt - 1]);
    // ...and stays that network while the student keeps training (a teacher that tracked the current
    // largest subnet would follow the student's changing logits).
    for (let k = frozenAt; k < teacherAt.length; k++) expect(teacherAt[k]).toEqual(teacherAt[frozenAt]);
    const moved = studentAt.slice(frozenAt).filter((z) => JSON.stringify(z) !== JSON.stringify(teacherAt[frozenAt]));
    expect(moved.length).toBeGreaterThan(20);
    probe.dispose();
    net.dispose();
  });
});
