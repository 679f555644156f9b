import { beforeAll, describe, expect, it } from 'vitest';
import type { Dataset } from '../../data/Dataset.js';
import { TrainConfig } from '../../protocol/protocol.js';
import type { TrainingStrategyName } from '../../protocol/strategyNames.js';
import type { Checkpoint } from '../checkpointFormat.js';
import { train, type TrainerSink } from '../Trainer.js';
import { buildRunSupernet } from './registry.js';
import { loadSpirals, SPIRALS, twoStageSpace } from './strategyFixtures.js';

// Few-shot's resume test sits in fewshot.test.ts; these strategies keep state in variables (BMoS's K
// supernets, DARTS's α, its moments and teacher) and in the checkpointed JSON (masks, assignments, decisions).
let ds: Dataset;
beforeAll(async () => {
  ds = await loadSpirals();
});
const space = twoStageSpace();
const recorder = () => {
  const ckpts: Checkpoint[] = [];
  const sink: TrainerSink = { metrics: () => undefined, specialization: () => undefined, checkpoint: (c) => void ckpts.push(c) };
  return { ckpts, sink };
};

describe('structural strategies resume exactly', () => {
  for (const [strategy, stopAt] of [['supertickets', 10], ['bmos', 10], ['darts', 15]] as [TrainingStrategyName, number][]) {
    it(`${strategy}: stopped at step ${stopAt} and resumed, the same weights and state as an uninterrupted run`, async () => {
      const cfg = TrainConfig.parse({ space, data: SPIRALS, strategy, steps: 24, batchSize: 16, learningRate: 0.02, evalEvery: 12, checkpointEvery: 100, backend: 'cpu' });
      const ref = recorder();
      const refNet = buildRunSupernet(cfg);
      await train({ config: cfg, net: refNet, dataset: ds, sink: ref.sink, snapshots: 0 });
      refNet.dispose();
      const ac = new AbortController();
      const first = recorder();
      const net = buildRunSupernet(cfg);
      await train({ config: cfg, net, dataset: ds, sink: first.sink, snapshots: 0, signal: ac.signal, onStep: (p) => p.step === stopAt && ac.abort() });
      net.dispose();
      const ckpt = first.ckpts.at(-1)!;
      expect(ckpt.meta.step).toBe(stopAt);
      const second = recorder();
      const net2 = buildRunSupernet(cfg, ckpt.meta.strategyState);
      await train({ config: cfg, net: net2, dataset: ds, sink: second.sink, snapshots: 0, resume: ckpt });
      net2.dispose();
      expect(second.ckpts.at(-1)!.meta.strategyState).toEqual(ref.ckpts.at(-1)!.meta.strategyState);
      expect(second.ckpts.at(-1)!.variables).toEqual(ref.ckpts.at(-1)!.variables);
    });
  }
});
