/**
 * BigNAS's whole objective through the trainer: one SGD step's update equals −lr · ∇[CE(largest, labels) +
 * Σ softCE(student, stop-gradient(largest))], written out here with plain tf ops on a fresh twin supernet —
 * so the largest learns the hard labels, every other subnet only the largest's soft labels at T = 1 and
 * weight 1, and no student's loss reaches the teacher's logits.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { BatchIterator } from '../../data/BatchIterator.js';
import type { Dataset } from '../../data/Dataset.js';
import { buildSupernet } from '../../nn/Supernet.js';
import { TrainConfig } from '../../protocol/protocol.js';
import { createSampler, train } from '../Trainer.js';
import { bignas } from './bignas.js';
import { loadSpirals, SPIRALS, strategyContext, twoStageSpace } from './strategyFixtures.js';

let ds: Dataset;
beforeAll(async () => {
  ds = await loadSpirals();
});

describe('bignas objective', () => {
  it('one step = SGD on CE of the largest + the students\' soft CE against its detached logits', async () => {
    const space = twoStageSpace();
    const config = TrainConfig.parse({ space, data: SPIRALS, strategy: 'bignas', steps: 1, batchSize: 16, optimizer: 'sgd', learningRate: 0.5, evalEvery: 1, checkpointEvery: 100 });
    const net = buildSupernet(space, { seed: 8 });
    await train({ config, net, dataset: ds, snapshots: 0, sink: { metrics: () => {}, specialization: () => {}, checkpoint: () => {} } });

    // Independent: the trainer's subnets and first batch, a twin supernet, the objective by hand.
    const plan = await bignas.plan({ ...strategyContext(space, undefined, 0, 0, 1), rng: createSampler(config) });
    expect(plan.arches).toHaveLength(4);
    const batch = new BatchIterator(ds.train, 16, config.seed + 1).next();
    const twin = buildSupernet(space, { seed: 8 });
    const xs = tf.tensor2d(batch.x, [16, 2]);
    const onehot = tf.oneHot(tf.tensor1d(batch.y, 'int32'), 3);
    // The teacher's logits from a forward outside the tape: constants.
    const teacher = tf.softmax(twin.apply(xs, plan.arches[0]!, { training: true }).logits);
    const vars = twin.trainableVariables();
    const { grads } = tf.variableGrads(() => {
      const meanRowSum = (t: tf.Tensor) => tf.neg(tf.mean(tf.sum(t, 1)));
      const ce = meanRowSum(tf.mul(onehot, tf.logSoftmax(twin.apply(xs, plan.arches[0]!, { training: true }).logits)));
      const kd = plan.arches.slice(1).map((a) => meanRowSum(tf.mul(teacher, tf.logSoftmax(twin.apply(xs, a, { training: true }).logits))));
      return tf.addN([ce, ...kd]) as tf.Scalar;
    }, vars);
    const trained = net.namedVariables();
    let compared = 0;
    for (const [name, v] of twin.namedVariables()) {
      const g = grads[v.name];
      if (!g) continue;
      const want = tf.tidy(() => tf.sub(v, tf.mul(g, 0.5)).dataSync());
      const got = trained.get(name)!.dataSync();
      want.forEach((w, i) => expect(got[i]).toBeCloseTo(w, 5));
      compared++;
    }
    expect(compared).toBe(vars.length);
    net.dispose();
    twin.dispose();
  });
});
