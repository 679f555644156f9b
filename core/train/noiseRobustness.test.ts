/**
 * The MomentumSMoE robustness numbers against an independent evaluation: at σ = 0 the momentum column is
 * the subnet's own validation accuracy; each (σ, mode) equals evaluating x + σ·s·ε with the layers' momentum
 * on or off by hand, ε drawn from the same seed.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadDataset } from '../data/Dataset.js';
import { buildSupernet } from '../nn/Supernet.js';
import { DatasetConfig, Specialization } from '../protocol/protocol.js';
import { largestArch } from '../space/archCodec.js';
import { createRng } from '../space/rng.js';
import { SearchSpace } from '../space/SearchSpace.js';
import { evaluateArch } from './evaluate.js';
import { noiseRobustness } from './noiseRobustness.js';
import { SCMOE_BETAS } from './selfContrastSweep.js';
import { computeSpecialization } from './specialization.js';
import { spiralsWith } from './spiralsRun.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('noise robustness with and without momentum', () => {
  it('matches a hand evaluation of the noisy inputs with momentum on and off', async () => {
    const space = SearchSpace.parse(spiralsWith({ mode: 'topk', k: 2 }, { depth: [3], block: { momentum: { mu: 0.9, gamma: 1 } } }));
    const net = buildSupernet(space, { seed: 2 });
    const ds = await loadDataset(DatasetConfig.parse({ kind: 'spirals', samples: 1500, seed: 4 }));
    const arch = largestArch(space);
    const levels = [0, 0.5];
    const got = await noiseRobustness(net, arch, { split: ds.val, name: 'val', inputShape: [2] }, { levels, seed: 3 });
    const own = await evaluateArch(net, arch, ds.val, { inputShape: [2] });
    expect(got[0]!.momentum.accuracy).toBeCloseTo(own.accuracy, 6);
    const n = ds.val.n;
    const xs = Array.from(ds.val.x);
    const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
    const std = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / xs.length);
    const rng = createRng(3);
    const eps = Array.from({ length: 2 * n }, () => rng.normal());
    levels.forEach((s, i) => {
      for (const [active, key] of [[true, 'momentum'], [false, 'plain']] as const) {
        net.moeLayers().forEach((l) => (l.momentumActive = active));
        const correct = tf.tidy(() => {
          const x = tf.tensor2d(xs.map((v, j) => v + s * std * eps[j]!), [n, 2]);
          return tf.sum(tf.equal(tf.argMax(net.apply(x, arch, { training: false }).logits, 1), tf.tensor1d(ds.val.y, 'int32'))).dataSync()[0]!;
        });
        expect(got[i]![key].accuracy).toBeCloseTo(correct / n, 6);
        expect(got[i]![key].n).toBe(n);
      }
      net.moeLayers().forEach((l) => (l.momentumActive = true));
    });
    // Momentum changes the function at these weights (μ = 0.9): the modes differ somewhere.
    const logits = (active: boolean) => {
      net.moeLayers().forEach((l) => (l.momentumActive = active));
      const out = net.apply(tf.tensor2d(xs, [n, 2]), arch, { training: false }).logits.dataSync();
      net.moeLayers().forEach((l) => (l.momentumActive = true));
      return out;
    };
    const [on, off] = [logits(true), logits(false)];
    expect(Math.max(...Array.from(on).map((v, i) => Math.abs(v - off[i]!)))).toBeGreaterThan(1e-3);
    net.dispose();
  });
});

describe('the specialization snapshot carries the inference checks', () => {
  it('adds SCMoE against β for MoE runs, and the noise comparison only where a block has momentum', async () => {
    const ds = await loadDataset(DatasetConfig.parse({ kind: 'spirals', samples: 600, seed: 4 }));
    for (const momentum of [undefined, { mu: 0.7, gamma: 1 }]) {
      const space = SearchSpace.parse(spiralsWith({ mode: 'topk', k: 2 }, { block: momentum ? { momentum } : {} }));
      const net = buildSupernet(space, { seed: 2 });
      const spec = await computeSpecialization(net, largestArch(space), ds, 0, { samples: 64 });
      expect(spec.selfContrast!.map((p) => p.beta)).toEqual(SCMOE_BETAS);
      expect(spec.selfContrast![0]!.n).toBe(Math.min(64, ds.val.n));
      expect(spec.noiseRobustness === undefined).toBe(momentum === undefined);
      expect(Specialization.safeParse(spec).success).toBe(true);
      net.dispose();
    }
  });
});
