import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadDataset } from '../data/Dataset.js';
import { buildSupernet } from '../nn/Supernet.js';
import { MetricPoint, TrainConfig } from '../protocol/protocol.js';
import { largestArch } from '../space/archCodec.js';
import { listExampleSpaces } from '../space/exampleSpaces.js';
import type { SearchSpaceInput } from '../space/SearchSpace.js';
import { probeTopExperts, routingFluctuation } from './routingFluctuation.js';
import { train } from './Trainer.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const spirals = (routing: Record<string, unknown>) => {
  const base = listExampleSpaces().find((e) => e.id === 'spirals-moe')!.space;
  return { ...base, stages: base.stages.map((st) => (st.block.type === 'moe' ? { ...st, block: { ...st.block, routing } } : st)) } as SearchSpaceInput;
};

describe('routing fluctuation', () => {
  it('is the share of tokens whose top expert changed', () => {
    expect(routingFluctuation([0, 1, 2, 3], [0, 1, 2, 3])).toBe(0);
    expect(routingFluctuation([0, 1, 2, 3], [1, 1, 2, 0])).toBe(0.5);
    expect(routingFluctuation([0], [0, 1])).toBeNaN();
  });

  it('probes the same tokens: 0 without a weight change, the changed share (counted independently) after one', async () => {
    const config = TrainConfig.parse({ space: spirals({ mode: 'topk', k: 2 }), data: { kind: 'spirals', samples: 400, seed: 1 }, steps: 1 });
    const ds = await loadDataset(config.data);
    const net = buildSupernet(config.space, { seed: 3 });
    const arch = largestArch(config.space);
    const a = await probeTopExperts(net, arch, ds.val, ds.inputShape);
    const b = await probeTopExperts(net, arch, ds.val, ds.inputShape);
    const layer = [...a.keys()][0]!;
    expect(a.get(layer)!.length).toBe(Math.min(256, ds.val.n));
    expect(routingFluctuation(a.get(layer)!, b.get(layer)!)).toBe(0);
    const moe = net.moeLayers()[0]!;
    moe.router.assign(tf.add(moe.router, tf.randomNormal(moe.router.shape, 0, 1, 'float32', 4)));
    const c = await probeTopExperts(net, arch, ds.val, ds.inputShape);
    const changed = Array.from(a.get(layer)!).filter((e, i) => e !== c.get(layer)![i]).length;
    expect(changed).toBeGreaterThan(0);
    expect(routingFluctuation(a.get(layer)!, c.get(layer)!)).toBe(changed / a.get(layer)!.length);
    net.dispose();
  });

  it('is reported at every validation after the first, with and without similarity-aware routing', async () => {
    const curves: Record<string, number[]> = {};
    for (const [name, routing] of [['top-2', { mode: 'topk', k: 2 }], ['similarity top-2', { mode: 'similarity', k: 2 }]] as const) {
      const config = TrainConfig.parse({ space: spirals(routing), data: { kind: 'spirals', samples: 600, seed: 1 }, strategy: 'plain', steps: 200, batchSize: 32, learningRate: 0.02, evalEvery: 25, checkpointEvery: 1000 });
      const net = buildSupernet(config.space, { seed: 2 });
      const points: MetricPoint[] = [];
      let t = 0;
      await train({ config, net, dataset: await loadDataset(config.data), now: () => (t += 10), snapshots: 0, sink: { metrics: (ps) => void points.push(...ps), specialization: () => {}, checkpoint: () => {} } });
      const val = points.filter((p) => p.valAccuracy !== undefined);
      expect(val).toHaveLength(8);
      expect(val[0]!.moe![0]!.fluctuation).toBeUndefined();
      for (const p of val.slice(1)) {
        const f = p.moe![0]!.fluctuation!;
        expect(f).toBeGreaterThanOrEqual(0);
        expect(f).toBeLessThanOrEqual(1);
        expect(MetricPoint.safeParse(p).success).toBe(true);
      }
      // Training points carry none.
      expect(points.filter((p) => p.valAccuracy === undefined).every((p) => p.moe![0]!.fluctuation === undefined)).toBe(true);
      curves[name] = val.slice(1).map((p) => p.moe![0]!.fluctuation!);
      net.dispose();
    }
    const fmt = (c: number[]) => c.map((v) => v.toFixed(3)).join(' ');
    console.log(`routing fluctuation per validation (256 probe tokens, every 25 steps): top-2 ${fmt(curves['top-2']!)}; similarity-aware ${fmt(curves['similarity top-2']!)}`);
  }, 180_000);
});
