/**
 * Mixture-of-Supernets' view data: each probe architecture's α is the block's own mixing weights at its
 * features (the smallest and largest first), the correlation is an independent Pearson over the probes, the
 * specialization snapshot carries it (schema-valid), and a space without architecture-routed blocks has none.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadDataset } from '../data/Dataset.js';
import { buildSupernet } from '../nn/Supernet.js';
import { DatasetConfig, Specialization } from '../protocol/protocol.js';
import { largestArch, smallestArch } from '../space/archCodec.js';
import { archFeatures } from '../space/archFeatures.js';
import { SearchSpace } from '../space/SearchSpace.js';
import { archMixingReport } from './archMixing.js';
import { spiralsWith } from './spiralsRun.js';
import { computeSpecialization } from './specialization.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const withMixture = () => {
  const s = spiralsWith({ mode: 'topk', k: 2 });
  return SearchSpace.parse({ ...s, stages: s.stages.map((st) => (st.block.type === 'dense' ? { ...st, block: { ...st.block, archMixture: { sets: 3, hidden: 16 } } } : st)) });
};

/** Independent Pearson: covariance over the product of standard deviations (population), in float64. */
function corr(x: number[], y: number[]): number {
  const mean = (v: number[]) => v.reduce((s, a) => s + a, 0) / v.length;
  const [mx, my] = [mean(x), mean(y)];
  const cov = mean(x.map((a, i) => (a - mx) * (y[i]! - my)));
  const sd = (v: number[], m: number) => Math.sqrt(mean(v.map((a) => (a - m) ** 2)));
  return sd(x, mx) * sd(y, my) === 0 ? 0 : cov / (sd(x, mx) * sd(y, my));
}

describe('architecture feature × mixing weight', () => {
  it('α per probe arch from the block, correlations independent, in the specialization snapshot', async () => {
    const space = withMixture();
    const net = buildSupernet(space, { seed: 4 });
    const r = (await archMixingReport(net, 20))!;
    expect(r.features).toEqual(['stem.depth', 'stem.b0.width', 'stem.b1.width', 'moe.b0.hidden']);
    // One mixing block per dense position of the stem (depth up to 2).
    expect(r.blocks.map((b) => b.block)).toEqual(['stem.b0', 'stem.b1']);
    const block = net.blocks[0]![0]! as unknown as { mixingWeights(a: readonly number[]): number[] };
    const b0 = r.blocks[0]!;
    expect(b0.archs).toHaveLength(22);
    expect(b0.archs[0]!.features).toEqual(archFeatures(space, smallestArch(space)));
    expect(b0.archs[1]!.features).toEqual(archFeatures(space, largestArch(space)));
    for (const a of b0.archs) block.mixingWeights(a.features).forEach((w, k) => expect(a.alpha[k]).toBeCloseTo(w, 9));
    // The probes differ in α, so the correlation says something.
    expect(Math.max(...b0.archs.map((a) => Math.abs(a.alpha[0]! - b0.archs[0]!.alpha[0]!)))).toBeGreaterThan(1e-4);
    r.features.forEach((_, i) =>
      [0, 1, 2].forEach((k) => expect(b0.correlation[i]![k]).toBeCloseTo(corr(b0.archs.map((a) => a.features[i]!), b0.archs.map((a) => a.alpha[k]!)), 9)),
    );
    const ds = await loadDataset(DatasetConfig.parse({ kind: 'spirals', samples: 300, seed: 4 }));
    const spec = await computeSpecialization(net, largestArch(space), ds, 0, { samples: 32, gridSize: 4, points: 4 });
    expect(spec.archMixing?.blocks).toHaveLength(2);
    expect(Specialization.safeParse(spec).success).toBe(true);
    net.dispose();
  });

  it('none without architecture-routed blocks', async () => {
    const net = buildSupernet(SearchSpace.parse(spiralsWith({ mode: 'topk', k: 2 })), { seed: 1 });
    expect(await archMixingReport(net)).toBeUndefined();
    net.dispose();
  });
});
