import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Dataset } from '../../data/Dataset.js';
import { MixtureSupernet } from '../../nn/MixtureSupernet.js';
import { TrainConfig } from '../../protocol/protocol.js';
import { activePositions, canonicalVector, decodeArch, encodeArch, sampleArch } from '../../space/archCodec.js';
import { createRng } from '../../space/rng.js';
import type { Checkpoint } from '../checkpointFormat.js';
import { train } from '../Trainer.js';
import { applyMarginals, assignment, balancingMarginals, bmos, BMOS_EMA_DECAY, BMOS_MODELS, klToUniform, routeArch, temperatureAt, type BmosState } from './bmos.js';
import { measurementBatches } from './measurementBatches.js';
import { buildRunSupernet } from './registry.js';
import { loadSpirals, SPIRALS, strategyContext, twoStageSpace } from './strategyFixtures.js';

const space = twoStageSpace();
const data = SPIRALS;
let ds: Dataset;
beforeAll(async () => {
  ds = await loadSpirals();
});
const ctx = (state: BmosState, step: number, seed: number) => strategyContext(space, state, step, seed);

describe("strategy 'bmos'", () => {
  it('balances the assignment: dividing out the marginal until it is uniform (fails without the balance term)', () => {
    // Conditionals that favour supernet 0 for most architectures.
    const rng = createRng(3);
    const probs = Array.from({ length: 50 }, () => {
      const r = [3 + rng.next(), rng.next(), rng.next()];
      const s = r.reduce((a, b) => a + b, 0);
      return r.map((v) => v / s);
    });
    const mean = (rows: number[][]) => rows[0]!.map((_, k) => rows.reduce((s, r) => s + r[k]!, 0) / rows.length);
    expect(klToUniform(mean(probs))).toBeGreaterThan(0.1);
    const marginals = balancingMarginals(probs);
    expect(marginals.length).toBeGreaterThan(0);
    const balanced = probs.map((p) => applyMarginals(p, marginals));
    // Independently: KL(mean p(k|a) ‖ uniform) of the balanced conditionals, each still a distribution.
    const m = mean(balanced);
    expect(m.reduce((s, v) => s + v * Math.log(v * 3), 0)).toBeLessThanOrEqual(1e-4);
    for (const p of balanced) expect(p.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 10);
    // The first marginal divided out is the plain mean of the conditionals.
    marginals[0]!.forEach((v, k) => expect(v).toBeCloseTo(mean(probs)[k]!, 12));
  });

  it('trains the drawn supernet, then moves its logits towards the arch\'s accuracy there on the other half of the data', async () => {
    const net = buildRunSupernet({ space, seed: 1, strategy: 'bmos' }) as MixtureSupernet;
    expect(net.copies).toHaveLength(BMOS_MODELS);
    const state = bmos.init!({ space, steps: 100, batchSize: 32, trainSamples: ds.train.n, net });
    const access = { net, optimizer: null as never, train: ds.train, inputShape: ds.inputShape, batchSize: 32 };
    await bmos.beforeStep!(ctx(state, 0, 1), access);
    // Epoch start: the marginals of the (uniform) initial logits need no balancing.
    expect(state.temperature).toBe(temperatureAt(0));
    // Skew the logits so that p(k | a) is not uniform, then draw.
    state.logits[2]![1]![2] = 3;
    const c = ctx(state, 1, 5);
    const plan = bmos.plan(c) as { arches: ReturnType<typeof sampleArch>[] };
    const pend = state.pending!;
    const vec = canonicalVector(space, encodeArch(space, plan.arches[0]!));
    expect(pend.vec).toEqual(vec);
    // Independently: the draw is the inverse CDF of p(k|a) at the RNG's next uniform after the arch.
    const r = createRng(5);
    sampleArch(space, r);
    const u = r.next();
    const p = assignment(space, state, vec);
    let acc = 0;
    const expected = p.findIndex((v) => (acc += v) > u);
    expect(pend.model).toBe(expected === -1 ? p.length - 1 : expected);
    // During the step the subnet is routed to the drawn supernet.
    expect(net.copyFor(plan.arches[0]!)).toBe(pend.model);

    const before = structuredClone(state.logits);
    // The score: accuracy of the arch in the drawn supernet on an architecture-half batch (odd indices).
    const [b] = measurementBatches(ds.train, ds.inputShape, 32, createRng(9), 1, 'architecture');
    const logits = net.copies[pend.model]!.apply(b!.x, decodeArch(space, vec), { training: false }).logits;
    const pred = Array.from(tf.argMax(logits, 1).dataSync());
    const labels = Array.from(b!.y.dataSync());
    const accuracy = pred.filter((v, i) => v === labels[i]).length / labels.length;
    tf.dispose([b!.x, b!.y, logits]);
    await bmos.beforeStep!(ctx(state, 1, 9), access);
    expect(state.pending).toBeNull();
    const active = activePositions(space, vec);
    state.logits.forEach((row, pos) =>
      row.forEach((models, choice) =>
        models.forEach((v, k) => {
          const moved = active[pos] && vec[pos] === choice && k === pend.model;
          expect(v).toBeCloseTo(moved ? BMOS_EMA_DECAY * before[pos]![choice]![k]! + (1 - BMOS_EMA_DECAY) * accuracy : before[pos]![choice]![k]!, 12);
        }),
      ),
    );
    // Outside a step, a subnet goes to its most probable supernet.
    const q = assignment(space, state, vec);
    expect(routeArch(space, state, decodeArch(space, vec))).toBe(q.indexOf(Math.max(...q)));
    net.dispose();
  });

  it('trains from the CLI config and comes back with its assignments (search, rank, export use them)', async () => {
    const cfg = TrainConfig.parse({ space, data, strategy: 'bmos', steps: 30, batchSize: 32, learningRate: 0.02, evalEvery: 10, checkpointEvery: 100, backend: 'cpu' });
    const net = buildRunSupernet(cfg) as MixtureSupernet;
    const ckpts: Checkpoint[] = [];
    await train({ config: cfg, net, dataset: ds, snapshots: 0, sink: { metrics: () => undefined, specialization: () => undefined, checkpoint: (c) => void ckpts.push(c) } });
    const state = ckpts.at(-1)!.meta.strategyState as BmosState;
    expect(state.trained.reduce((a, b) => a + b, 0)).toBe(30);
    // Only the weight half of the training split trained the weights: every supernet that trained moved.
    const restored = buildRunSupernet(cfg, state) as MixtureSupernet;
    const rng = createRng(8);
    for (let i = 0; i < 20; i++) {
      const a = sampleArch(space, rng);
      const q = assignment(space, state, canonicalVector(space, encodeArch(space, a)));
      expect(restored.copyFor(a)).toBe(q.indexOf(Math.max(...q)));
    }
    restored.dispose();
    net.dispose();
  });
});
