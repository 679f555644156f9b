/** PA&DA: path and data distributions from gradient norms and their importance weights, each checked
 * against an independent computation; a run resumes exactly. */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadDataset } from '../../data/Dataset.js';
import { buildSupernet } from '../../nn/Supernet.js';
import { TrainConfig, type MetricPoint } from '../../protocol/protocol.js';
import { activePositions, archDims, archPositions, encodeArch, largestArch, smallestArch } from '../../space/archCodec.js';
import { createRng } from '../../space/rng.js';
import { SearchSpace, type Arch } from '../../space/SearchSpace.js';
import type { Checkpoint } from '../checkpointFormat.js';
import { train } from '../Trainer.js';
import { endEpoch, IW_CLIP, pada, type PadaState } from './pada.js';
import type { StrategyContext, StrategyEnv } from './TrainingStrategy.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const space = SearchSpace.parse({
  version: 1, name: 'pada', input: { kind: 'vector', dim: 2 }, numClasses: 3,
  stages: [
    { id: 'a', depth: [1], block: { type: 'dense', width: [4, 8], activation: 'relu' } },
    { id: 'b', depth: [1, 2], block: { type: 'dense', width: [4, 8, 16], activation: 'relu', ops: ['dense', 'identity'] } },
  ],
});

const N = 6;
const ctxOf = (state: PadaState, step = 0): StrategyContext<PadaState> => ({
  space, rng: createRng(1), largest: largestArch(space), smallest: smallestArch(space), evalArch: largestArch(space), step, steps: 100, progress: 0, state,
});
const fresh = () => pada.init!({ space, steps: 100, batchSize: 2, trainSamples: N } as StrategyEnv) as PadaState;

describe('pada', () => {
  it('folds each choice\'s block gradient norm and each sample\'s ‖softmax − onehot‖ into the next epoch\'s distributions', async () => {
    const net = buildSupernet(space, { seed: 2 });
    const state = fresh();
    const arch: Arch = { stages: [{ depth: 1, blocks: [{ op: 'dense', width: 8 }] }, { depth: 2, blocks: [{ op: 'dense', width: 16 }, { op: 'identity' }] }] };
    const xs = tf.tensor2d([[1, 2], [-1, 0.5], [0.3, -2]]);
    const ys = tf.tensor1d([0, 2, 1], 'int32');
    const named = net.namedVariables();
    const { grads } = tf.variableGrads(() => tf.losses.softmaxCrossEntropy(tf.oneHot(ys, 3), net.apply(xs, arch, { training: true }).logits) as tf.Scalar, net.trainableVariables());
    const byName = new Map([...named].filter(([, v]) => grads[v.name]).map(([n, v]) => [n, grads[v.name]!] as const));
    const logits = net.apply(xs, arch, { training: true }).logits;
    await pada.afterSubnet!({ index: 0, arch, grads: byName, logits, labels: ys, indices: [4, 1, 4] }, ctxOf(state));

    // Independent: the L2 norm of every gradient under a prefix, from plain arrays.
    const norm = (prefix: string) => Math.sqrt([...byName].filter(([n]) => n.startsWith(prefix)).reduce((a, [, g]) => a + (g.dataSync() as Float32Array).reduce((s, x) => s + x * x, 0), 0));
    const labels = archPositions(space).map((p) => p.label);
    const vec = encodeArch(space, arch);
    const at = (label: string) => state.pathNorm[labels.indexOf(label)]!;
    expect(at('a.b0.width')[vec[labels.indexOf('a.b0.width')]!]).toBeCloseTo(norm('a.b0.'), 5);
    expect(at('b.b0.width')[2]).toBeCloseTo(norm('b.b0.'), 5);
    expect(at('b.depth')[1]).toBeCloseTo(norm('b.b'), 5);
    // The identity block has no weights: nothing measured for its op, and its width is inactive.
    expect(at('b.b1.op')).toEqual([0, 0]);
    const z = logits.arraySync();
    const y = [0, 2, 1];
    const sampleNorm = z.map((row, i) => {
      const e = row.map(Math.exp);
      const s = e.reduce((a, b) => a + b);
      return Math.sqrt(e.reduce((a, v, c) => a + (v / s - (c === y[i] ? 1 : 0)) ** 2, 0));
    });
    // Sample 4 appeared twice: the reference's running mean (first value, then the mean of old and new).
    expect(state.dataNorm[4]).toBeCloseTo((sampleNorm[0]! + sampleNorm[2]!) / 2, 5);
    expect(state.dataNorm[1]).toBeCloseTo(sampleNorm[1]!, 5);
    expect(state.dataNorm[0]).toBe(0);

    const before = structuredClone(state);
    endEpoch(state, 0.6, createRng(3));
    before.pathNorm.forEach((norms, i) => {
      const sum = norms.reduce((a, b) => a + b, 0);
      norms.forEach((x, c) => expect(state.pathProb[i]![c]).toBeCloseTo(sum > 0 ? 0.6 * (x / sum) + 0.4 / norms.length : 1 / norms.length, 10));
    });
    const dsum = before.dataNorm.reduce((a, b) => a + b, 0);
    before.dataNorm.forEach((x, i) => expect(state.dataProb[i]).toBeCloseTo(0.6 * (x / dsum) + 0.4 / N, 10));
    expect(state.dataNorm.every((x) => x === 0)).toBe(true);
    expect(state.order).toHaveLength(N);
    net.dispose();
  });

  it('draws the epoch\'s samples from the data distribution, weighted 1/(N·p) within the clip', () => {
    const state = fresh();
    state.dataProb = [0.5, 0.3, 0.1, 0.05, 0.03, 0.02];
    state.dataNorm = [50, 30, 10, 5, 3, 2];
    endEpoch(state, 1, createRng(9));
    const counts = new Array(N).fill(0);
    const rng = createRng(4);
    // Many epochs' orders: frequencies follow p.
    for (let e = 0; e < 4000; e++) {
      state.dataNorm = [50, 30, 10, 5, 3, 2];
      endEpoch(state, 1, rng);
      for (const i of state.order) counts[i]++;
    }
    const total = counts.reduce((a, b) => a + b, 0);
    [0.5, 0.3, 0.1, 0.05, 0.03, 0.02].forEach((p, i) => expect(Math.abs(counts[i] / total - p)).toBeLessThan(0.012));
    state.cursor = 0;
    const pick = pada.sampleBatch!(ctxOf(state), N, 4)!;
    expect(pick.indices).toEqual(state.order.slice(0, 4));
    pick.indices.forEach((i, k) => expect(pick.weights![k]).toBeCloseTo(Math.min(IW_CLIP, Math.max(1 / IW_CLIP, 1 / (N * state.dataProb[i]!))), 10));
  });

  it('draws paths from the per-position distributions, weighted Π u/p over the active positions', async () => {
    const state = fresh();
    const dims = archDims(space);
    const rng = createRng(12);
    state.pathProb = dims.map((d) => {
      const raw = Array.from({ length: d }, () => 0.2 + rng.next());
      const s = raw.reduce((a, b) => a + b);
      return raw.map((x) => x / s);
    });
    const seen = new Set<string>();
    for (let k = 0; k < 30; k++) {
      const ctx = ctxOf(state);
      ctx.rng = createRng(100 + k);
      const plan = await pada.plan(ctx);
      const vec = encodeArch(space, plan.arches[0]!);
      const active = activePositions(space, vec);
      let w = 1;
      vec.forEach((c, i) => active[i] && (w *= 1 / dims[i]! / state.pathProb[i]![c]!));
      expect(plan.weights![0]).toBeCloseTo(Math.min(IW_CLIP, Math.max(1 / IW_CLIP, w)), 10);
      seen.add(vec.join(','));
    }
    expect(seen.size).toBeGreaterThan(5);
  });

  it('trains from the registry, shows its sampling distribution, and resumes exactly', async () => {
    const ds = await loadDataset({ kind: 'gaussians', classes: 3, samples: 120, spread: 0.5, seed: 2 });
    const config = TrainConfig.parse({ space, data: { kind: 'gaussians', classes: 3 }, strategy: 'pada', steps: 40, batchSize: 16, learningRate: 0.02, evalEvery: 7, checkpointEvery: 1000 });
    const run = async (opts: { signal?: AbortSignal; stopAt?: number; resume?: Checkpoint }) => {
      const points: MetricPoint[] = [];
      const ckpts: Checkpoint[] = [];
      const ac = new AbortController();
      await train({
        config, net: buildSupernet(space, { seed: 1 }), dataset: ds, snapshots: 0, resume: opts.resume ?? null, signal: ac.signal,
        sink: { metrics: (p) => void points.push(...p), specialization: () => {}, checkpoint: (c) => void ckpts.push(c) },
        onStep: (p) => opts.stopAt !== undefined && p.step === opts.stopAt && ac.abort(),
      });
      return { points, ckpts };
    };
    const ref = await run({});
    const last = ref.points.at(-1)!.strategy!;
    const dist = last['sampling:b.b0.width'] as number[];
    expect(dist.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 3);
    expect(Math.max(...dist) - Math.min(...dist)).toBeGreaterThan(0.01);
    expect(last.dataEss as number).toBeLessThan(1);
    const first = await run({ stopAt: 17 });
    const second = await run({ resume: first.ckpts.at(-1)! });
    expect(second.ckpts.at(-1)!.variables).toEqual(ref.ckpts.at(-1)!.variables);
    expect(second.points.at(-1)!.strategy).toEqual(last);
  });
});
