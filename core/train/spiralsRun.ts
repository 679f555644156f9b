/**
 * Test helper: the spirals MoE example with its MoE stage routed by a given routing (optionally deeper, or
 * with other block options), and a plain training run of it on 800 spiral points — the small CPU training every
 * router's test does.
 */
import { loadDataset } from '../data/Dataset.js';
import { buildSupernet } from '../nn/Supernet.js';
import { TrainConfig, type MetricPoint } from '../protocol/protocol.js';
import { listExampleSpaces } from '../space/exampleSpaces.js';
import type { RoutingInput } from '../space/routing/registry.js';
import type { SearchSpaceInput } from '../space/SearchSpace.js';
import { train } from './Trainer.js';

export function spiralsWith(routing: RoutingInput, opts: { depth?: number[]; block?: Record<string, unknown> } = {}): SearchSpaceInput {
  const base = listExampleSpaces().find((e) => e.id === 'spirals-moe')!.space;
  return {
    ...base,
    stages: base.stages.map((st) => (st.block.type === 'moe' ? { ...st, depth: opts.depth ?? st.depth, block: { ...st.block, ...opts.block, routing } } : st)),
  } as SearchSpaceInput;
}

/**
 * A run of `space` on spirals (the plain strategy unless given; by default 800 points, batch 32, validation every 150 steps,
 * a fake clock; no checkpoints): the supernet (seed 2) to inspect before `run`, and `run` collecting every
 * metric point and the wall-clock ms per step. Benches pass `realClock` and their own sizes.
 */
export function spiralsRun(
  space: SearchSpaceInput,
  opts: { steps: number; learningRate: number; samples?: number; batchSize?: number; evalEvery?: number; realClock?: boolean; strategy?: string },
) {
  const config = TrainConfig.parse({
    space, data: { kind: 'spirals', samples: opts.samples ?? 800, seed: 1 }, strategy: opts.strategy ?? 'plain', steps: opts.steps, batchSize: opts.batchSize ?? 32,
    learningRate: opts.learningRate, evalEvery: opts.evalEvery ?? 150, checkpointEvery: 100000,
  });
  const net = buildSupernet(config.space, { seed: 2 });
  const points: MetricPoint[] = [];
  const run = async () => {
    const dataset = await loadDataset(config.data);
    let t = 0;
    const t0 = performance.now();
    const res = await train({
      config, net, dataset, snapshots: 0, ...(opts.realClock ? {} : { now: () => (t += 10) }),
      sink: { metrics: (ps) => void points.push(...ps), specialization: () => {}, checkpoint: () => {} },
    });
    return { res, points, dataset, msPerStep: (performance.now() - t0) / opts.steps };
  };
  return { net, config, run };
}
