import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Dataset } from '../../data/Dataset.js';
import { DartsSupernet } from '../../nn/DartsSupernet.js';
import { decodeDartsEdges } from '../../protocol/dartsReport.js';
import { applyMixed } from '../../nn/mixedForward.js';
import { TrainConfig } from '../../protocol/protocol.js';
import { archDims } from '../../space/archCodec.js';
import { createRng } from '../../space/rng.js';
import type { Checkpoint } from '../checkpointFormat.js';
import { train } from '../Trainer.js';
import { alphaStep, ARCH_LR, ARCH_WEIGHT_DECAY, darts, dartsEdges, selectEdge, SEARCH_END, type DartsState } from './darts.js';
import { measurementBatches } from './measurementBatches.js';
import { buildRunSupernet } from './registry.js';
import { loadSpirals, SPIRALS, strategyContext, twoStageSpace } from './strategyFixtures.js';

const space = twoStageSpace();
const data = SPIRALS;
let ds: Dataset;
beforeAll(async () => {
  ds = await loadSpirals();
});
const arrays = (ts: readonly tf.Tensor[]) => ts.map((t) => Array.from(t.dataSync()));
const ce = (logits: tf.Tensor2D, y: tf.Tensor1D) => tf.neg(tf.mean(tf.sum(tf.mul(tf.oneHot(y, 3), tf.logSoftmax(logits)), 1))) as tf.Scalar;

describe("strategy 'darts'", () => {
  it('takes a first-order Adam step on α with the validation loss (gradient checked by finite differences)', async () => {
    const net = new DartsSupernet(space, 3);
    const [b] = measurementBatches(ds.train, ds.inputShape, 32, createRng(2), 1, 'architecture');
    const a0 = arrays(net.alpha);
    const loss = (alpha: number[][]) =>
      tf.tidy(() => ce(applyMixed(net.net, b!.x, alpha.map((a) => tf.softmax(tf.tensor1d(a)) as tf.Tensor1D), { training: true }).logits, b!.y).arraySync() as number);
    // Central differences (float64 in JS around a float32 network: a loose but independent check).
    const h = 1e-2;
    const numeric = a0.map((a, p) =>
      a.map((_, c) => {
        const up = a0.map((r) => [...r]);
        const dn = a0.map((r) => [...r]);
        up[p]![c]! += h;
        dn[p]![c]! -= h;
        return (loss(up) - loss(dn)) / (2 * h);
      }),
    );
    await alphaStep(net, b!, 1, 0);
    const a1 = arrays(net.alpha);
    // Adam's first step moves each coordinate by lr · sign(g + wd · α) (m̂ / √v̂ = ±1), on ≥ 2-choice positions only.
    let checked = 0;
    archDims(space).forEach((n, p) =>
      a1[p]!.forEach((v, c) => {
        const g = numeric[p]![c]! + ARCH_WEIGHT_DECAY * a0[p]![c]!;
        if (n < 2) expect(v).toBe(a0[p]![c]!);
        else if (Math.abs(g) > 1e-4) {
          expect(v - a0[p]![c]!).toBeCloseTo(-ARCH_LR * Math.sign(g), 6);
          checked++;
        }
      }),
    );
    expect(checked).toBeGreaterThan(6);
    tf.dispose([b!.x, b!.y]);
    net.dispose();
  });

  it('decides an edge by the choice whose removal hurts validation accuracy most (computed independently)', async () => {
    const net = new DartsSupernet(space, 4);
    // Make the mixture far from uniform so that removals matter.
    net.alpha.forEach((a, p) => a.assign(tf.randomNormal(a.shape, 0, 2, 'float32', 10 + p)));
    const batches = measurementBatches(ds.train, ds.inputShape, 64, createRng(7), 2, 'architecture');
    const pos = dartsEdges(space).find((p) => archDims(space)[p]! === 2)!;
    const sel = await selectEdge(net, batches, pos);
    const alpha = arrays(net.alpha);
    const acc = (remove: number | null) => {
      let correct = 0;
      let n = 0;
      for (const b of batches) {
        const w = alpha.map((a, p) => {
          const e = a.map(Math.exp);
          const s = e.reduce((x, y) => x + y, 0);
          return tf.tensor1d(e.map((v, c) => (p === pos && c === remove ? 0 : v / s)));
        });
        const pred = Array.from(tf.argMax(applyMixed(net.net, b.x, w, { training: false }).logits, 1).dataSync());
        const y = Array.from(b.y.dataSync());
        correct += pred.filter((v, i) => v === y[i]).length;
        n += y.length;
      }
      return correct / n;
    };
    expect(sel.base).toBeCloseTo(acc(null), 10);
    const without = [0, 1].map((c) => acc(c));
    without.forEach((v, c) => expect(sel.without[c]).toBeCloseTo(v, 10));
    // The removals differ, so the rule is what picks the choice.
    expect(without[0]).not.toBe(without[1]);
    expect(sel.chosen).toBe(without[0]! <= without[1]! ? 0 : 1);
    for (const b of batches) tf.dispose([b.x, b.y]);
    net.dispose();
  });

  it('distils from the previous step\'s supernet (SD-DARTS): the teacher is the weights before the last update', async () => {
    const net = buildRunSupernet({ space, seed: 5, strategy: 'darts' }) as DartsSupernet;
    const state = darts.init!({ space, steps: 100, batchSize: 16, trainSamples: ds.train.n, net });
    const ctx = (step: number) => strategyContext(space, state, step, step);
    const xs = tf.randomNormal([6, 2], 0, 1, 'float32', 1);
    const ys = tf.tensor1d([0, 1, 2, 0, 1, 2], 'int32');
    const c1 = ctx(1);
    await darts.plan(c1, { net, xs, ys });
    darts.afterSubnet!({} as never, c1);
    // "Update" the weights: the next step's teacher must still be the supernet before this change.
    const before = applyMixed(net.net, xs, net.mixWeights(), { training: true }).logits;
    const hk = net.net.namedVariables().get('head.kernel')!;
    hk.assign(tf.add(hk, tf.randomNormal(hk.shape, 0, 0.5, 'float32', 3)));
    expect(tf.max(tf.abs(tf.sub(tf.softmax(before), tf.softmax(applyMixed(net.net, xs, net.mixWeights(), { training: true }).logits)))).arraySync()).toBeGreaterThan(1e-3);
    const c2 = ctx(2);
    const plan = await darts.plan(c2, { net, xs, ys });
    expect(plan.arches[0]).toBe(net.mixedArch);
    const student = net.apply(xs, net.mixedArch, { training: true }).logits;
    const taskLoss = ce(student, ys);
    const out = darts.loss!({ index: 0, arch: net.mixedArch, logits: student, labels: ys, sampleWeights: null, taskLoss, earlier: [] }, c2);
    // Independently: soft cross-entropy to softmax(teacher) where teacher = the logits before the change.
    const expectedKd = tf.neg(tf.mean(tf.sum(tf.mul(tf.softmax(before), tf.logSoftmax(student)), 1))).arraySync() as number;
    expect(out.kd!.arraySync()).toBeCloseTo(expectedKd, 5);
    expect(out.total.arraySync()).toBeCloseTo((taskLoss.arraySync() as number) + expectedKd, 5);
    net.dispose();
  });

  it('searches, then decides every edge in turn while fine-tuning, ending on the derived subnet; restores with its α and decisions', async () => {
    const cfg = TrainConfig.parse({ space, data, strategy: 'darts', steps: 40, batchSize: 32, learningRate: 0.02, evalEvery: 20, checkpointEvery: 100, backend: 'cpu' });
    const net = buildRunSupernet(cfg) as DartsSupernet;
    const a0 = arrays(net.alpha);
    const ckpts: Checkpoint[] = [];
    await train({ config: cfg, net, dataset: ds, snapshots: 0, sink: { metrics: () => undefined, specialization: () => undefined, checkpoint: (c) => void ckpts.push(c) } });
    const state = ckpts.at(-1)!.meta.strategyState as DartsState;
    expect(state.alphaSteps).toBe(SEARCH_END * 40);
    const edges = dartsEdges(space);
    expect(state.selections.map((s) => s.position).sort()).toEqual([...edges].sort());
    // Evenly spaced over the second half: 6 edges, edge k at the first step with step/40 ≥ 0.5 + 0.5·k/6.
    expect(edges).toHaveLength(6);
    expect(state.selections.map((s) => s.step)).toEqual([20, 24, 27, 30, 34, 37]);
    // After the last decision the derived subnet itself trains (a concrete arch vector, not the mixture's marker).
    expect(state.fixed.every((f, p) => f !== null || archDims(space)[p]! < 2)).toBe(true);
    for (const s of state.selections) expect(s.chosen).toBe(s.without.indexOf(Math.min(...s.without)));
    // The run view's numbers: softmax(α) of each edge (as the variables hold it) and its decision.
    const view = decodeDartsEdges(darts.report!(strategyContext(space, state, 40, 1, 40)) as Record<string, number[]>)!;
    expect(view.map((e) => e.position)).toEqual(edges);
    for (const e of view) {
      const soft = Array.from(tf.softmax(net.alpha[e.position]!).dataSync());
      e.weights.forEach((w, c) => expect(w).toBeCloseTo(soft[c]!, 6));
      expect(e.selection?.chosen).toBe(state.fixed[e.position]);
    }
    // α moved during the search, not after.
    expect(arrays(net.alpha)).not.toEqual(a0);
    // Restored from the checkpoint: the same α (variables) and decisions (state).
    const restored = buildRunSupernet(cfg, state) as DartsSupernet;
    expect(restored.fixed).toEqual(state.fixed);
    restored.dispose();
    net.dispose();
  });
});
