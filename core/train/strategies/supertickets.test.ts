import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Dataset } from '../../data/Dataset.js';
import { buildSupernet, subnetGraph } from '../../nn/Supernet.js';
import { TrainConfig } from '../../protocol/protocol.js';
import { largestArch, sampleArch } from '../../space/archCodec.js';
import { createRng } from '../../space/rng.js';
import { SearchSpace } from '../../space/SearchSpace.js';
import type { Checkpoint } from '../checkpointFormat.js';
import { train } from '../Trainer.js';
import { measurementBatches } from './measurementBatches.js';
import { decodeMask, encodeMask, eventProgress, PRUNE_EVENTS, pruneAndRegrow, sparsityAt, supertickets, TARGET_SPARSITY, type SuperTicketsState } from './supertickets.js';
import { loadSpirals, SPIRALS, strategyContext, twoStageSpace } from './strategyFixtures.js';

const space = twoStageSpace([8, 16], ['dense']);
const data = SPIRALS;
let ds: Dataset;
beforeAll(async () => {
  ds = await loadSpirals();
});
const prunable = ['s1.b0.dense.kernel', 's2.b0.dense.kernel', 's2.b1.dense.kernel', 'head.kernel'];
/** Wider, so that an event's regrowth count R is well above 1. */
const wide = SearchSpace.parse({ ...space, stages: [{ ...space.stages[0]!, block: { type: 'dense', width: [32, 64] } }, { ...space.stages[1]!, block: { type: 'dense', width: [16, 32] } }] });

const ctx = (state: SuperTicketsState, progress: number, seed: number) => strategyContext(wide, state, Math.round(progress * 100), seed);

describe("strategy 'supertickets'", () => {
  it('keeps the largest weights and regrows the pruned ones with the largest gradient (computed independently)', async () => {
    const net = buildSupernet(wide, { seed: 2 });
    const state = supertickets.init!({ space: wide, steps: 100, batchSize: 32, trainSamples: ds.train.n, net });
    const access = { net, optimizer: null as never, train: ds.train, inputShape: ds.inputShape, batchSize: 32 };
    // Before the first event nothing happens.
    await supertickets.beforeStep!(ctx(state, 0.1, 1), access);
    expect(state.events).toBe(0);

    const masksBefore: Record<string, Float32Array> = {};
    let regrownBack = 0;
    for (const event of [1, 2]) {
      const w0 = new Map(prunable.map((n) => [n, Float32Array.from(net.namedVariables().get(n)!.dataSync())]));
      // The same batch the event draws (same RNG state), through the largest subnet: the dense gradient.
      const [b] = measurementBatches(ds.train, ds.inputShape, 32, createRng(event), 1);
      const vars = prunable.map((n) => net.namedVariables().get(n)!);
      const { value, grads } = tf.variableGrads(() => {
        const logits = net.apply(b!.x, largestArch(wide), { training: true }).logits;
        return tf.losses.softmaxCrossEntropy(tf.oneHot(b!.y, 3), logits) as tf.Scalar;
      }, vars);
      value.dispose();
      const g0 = new Map(prunable.map((n, i) => [n, Float32Array.from(grads[vars[i]!.name]!.dataSync())]));
      tf.dispose([b!.x, b!.y, ...Object.values(grads)]);

      await supertickets.beforeStep!(ctx(state, eventProgress(event - 1), event), access);
      expect(state.events).toBe(event);
      const target = sparsityAt(event);
      for (const name of prunable) {
        const w = w0.get(name)!;
        const g = g0.get(name)!;
        const n = w.length;
        const mask = decodeMask(state.masks[name]!.bits, n);
        const P = Math.round(target * n);
        const alreadyPruned = masksBefore[name] ? masksBefore[name]!.reduce((s, m) => s + 1 - m, 0) : 0;
        const R = Math.round(0.1 * (P - alreadyPruned));
        // Independently: ranks by |w| (the kept core) and, of the others, by |g| (the regrown).
        const order = [...w.keys()].sort((a, c) => Math.abs(w[c]!) - Math.abs(w[a]!) || a - c);
        const core = new Set(order.slice(0, n - P - R));
        const rest = order.slice(n - P - R).sort((a, c) => Math.abs(g[c]!) - Math.abs(g[a]!) || a - c);
        const grown = new Set(rest.slice(0, R));
        for (let i = 0; i < n; i++) expect(mask[i]).toBe(core.has(i) || grown.has(i) ? 1 : 0);
        expect(n - mask.reduce((s, m) => s + m, 0)).toBe(P);
        // Pruned weights are exactly zero; kept ones untouched.
        const after = net.namedVariables().get(name)!.dataSync();
        for (let i = 0; i < n; i++) expect(Math.abs(after[i]!)).toBe(Math.abs(mask[i] ? w[i]! : 0));
        if (event === 2) {
          // Regrowth brings back weights the first event pruned (they are zero, so only |g| can).
          const back = [...mask.keys()].filter((i) => mask[i] === 1 && masksBefore[name]![i] === 0);
          regrownBack += back.length;
          for (const i of back) expect(grown.has(i)).toBe(true);
        }
        masksBefore[name] = mask;
      }
      // Simulate training between events so magnitudes move.
      tf.tidy(() => {
        for (const n of prunable) {
          const v = net.namedVariables().get(n)!;
          v.assign(tf.add(v, tf.mul(tf.randomNormal(v.shape, 0, 0.05, 'float32', event), tf.tensor(masksBefore[n]!, v.shape))));
        }
      });
    }
    expect(regrownBack).toBeGreaterThan(0);
    net.dispose();
  });

  it('trains with the masks in force: pruned weights stay exactly zero, the sparsity reaches its target, subnets export their ticket', async () => {
    const cfg = TrainConfig.parse({ space, data, strategy: 'supertickets', steps: 40, batchSize: 32, learningRate: 0.02, evalEvery: 20, checkpointEvery: 100, backend: 'cpu' });
    const net = buildSupernet(space, { seed: 3 });
    const ckpts: Checkpoint[] = [];
    const res = await train({ config: cfg, net, dataset: ds, snapshots: 0, sink: { metrics: () => undefined, specialization: () => undefined, checkpoint: (c) => void ckpts.push(c) } });
    expect(res.status).toBe('completed');
    const state = ckpts.at(-1)!.meta.strategyState as SuperTicketsState;
    expect(state.events).toBe(PRUNE_EVENTS);
    // Events at 20 %, 30 %, … 70 % of 40 steps.
    expect(state.history.map((h) => h.step)).toEqual([8, 12, 16, 20, 24, 28]);
    expect(state.history.at(-1)!.sparsity).toBeCloseTo(TARGET_SPARSITY, 2);
    for (const name of prunable) {
      const v = net.namedVariables().get(name)!;
      const mask = decodeMask(state.masks[name]!.bits, v.size);
      const w = v.dataSync();
      // Twelve steps of Adam after the last event: a pruned weight that got any gradient would have moved.
      for (let i = 0; i < v.size; i++) if (!mask[i]) expect(Math.abs(w[i]!)).toBe(0);
      expect(mask.reduce((s, m) => s + m, 0)).toBe(v.size - Math.round(TARGET_SPARSITY * v.size));
    }
    // A subnet's exported weights are the sliced ticket: zero exactly where the sliced mask is.
    const arch = sampleArch(space, createRng(4));
    const first = subnetGraph(net, arch).ops.flatMap((o) => (o.op === 'residual' ? o.body : [o])).find((o) => o.op === 'dense');
    if (first?.op !== 'dense') throw new Error('no dense op');
    const { inDim: rows, outDim: cols, kernel } = first.weights;
    const full = decodeMask(state.masks['s1.b0.dense.kernel']!.bits, 2 * 16);
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) expect(kernel[r * cols + c] === 0).toBe(full[r * 16 + c] === 0);
    net.dispose();
  });

  it('round-trips masks through their bitset', () => {
    const bits = Array.from({ length: 37 }, (_, i) => (i * 7) % 3 === 0 ? 1 : 0);
    expect(Array.from(decodeMask(encodeMask(bits), 37))).toEqual(bits);
    const r = pruneAndRegrow([0.5, -0.1, 0.3, 0.05], [0, 9, 0, 1], 0.5, 0, 0.5);
    // P = 2, R = 1: keep the largest |w| (0.5), regrow the largest |g| of the rest (index 1).
    expect(Array.from(r.mask)).toEqual([1, 1, 0, 0]);
  });
});
