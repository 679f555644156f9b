import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadDataset } from '../data/Dataset.js';
import { selectBackend } from '../nn/backend.js';
import { buildSupernet } from '../nn/Supernet.js';
import { RankReport } from '../protocol/protocol.js';
import { largestArch, smallestArch } from '../space/archCodec.js';
import { listExampleSpaces } from '../space/exampleSpaces.js';
import { SearchSpace } from '../space/SearchSpace.js';
import { restoreSupernet } from '../train/restoreSupernet.js';
import { evaluateArch } from '../train/evaluate.js';
import { createTestRun } from './createTestRun.js';
import { kendallTauB, spearmanRho } from './rankCorrelation.js';
import { pickSubnetsByParams, rankFigures, rankRun, readRankReport } from './rankRun.js';

beforeAll(async () => {
  await selectBackend('cpu');
});
afterAll(() => tf.disposeVariables());

const est = (accuracy: number) => ({ split: 'val' as const, accuracy, n: 100, ci95: [0, 1] as [number, number], trainSec: 1 });

describe('pickSubnetsByParams', () => {
  it('spreads N distinct subnets over the parameter range, smallest and largest included', () => {
    const space = SearchSpace.parse(listExampleSpaces().find((e) => e.id === 'fashion-mlp-supernet')!.space);
    const net = buildSupernet(space, { seed: 1 });
    const count = (a: Parameters<typeof net.countParams>[0]) => net.countParams(a);
    const picked = pickSubnetsByParams(space, count, 6, 1);
    expect(picked.length).toBe(6);
    const params = picked.map(count);
    expect(params[0]).toBe(Math.min(count(smallestArch(space)), ...params));
    expect(params.at(-1)).toBe(count(largestArch(space)));
    for (let i = 1; i < params.length; i++) expect(params[i]!).toBeGreaterThan(params[i - 1]!);
    // Spread, not clustered: every gap is below half the range.
    const range = params.at(-1)! - params[0]!;
    for (let i = 1; i < params.length; i++) expect(params[i]! - params[i - 1]!).toBeLessThan(range / 2);
    net.dispose();
  });
});

describe('rankFigures', () => {
  it('τ-b and ρ between inherited and mean standalone accuracy; the noise floor from seed pairs', () => {
    const subnets = [
      { inherited: est(0.5), standalone: [{ ...est(0.6), seed: 2 }, { ...est(0.62), seed: 3 }] },
      { inherited: est(0.6), standalone: [{ ...est(0.7), seed: 2 }, { ...est(0.6), seed: 3 }] },
      { inherited: est(0.7), standalone: [{ ...est(0.65), seed: 2 }, { ...est(0.7), seed: 3 }] },
      { inherited: est(0.8), standalone: [{ ...est(0.8), seed: 2 }, { ...est(0.75), seed: 3 }] },
    ].map((s) => ({ ...s, standaloneMean: (s.standalone[0]!.accuracy + s.standalone[1]!.accuracy) / 2 }));
    const f = rankFigures(subnets, 2);
    // Means 0.61, 0.65, 0.675, 0.775: the same order as inherited → τ = ρ = 1.
    expect(f.kendallTau).toBeCloseTo(1, 12);
    expect(f.spearmanRho).toBeCloseTo(1, 12);
    // Seed 2 [0.6, 0.7, 0.65, 0.8] vs seed 3 [0.62, 0.6, 0.7, 0.75]: C = 4, D = 2 → τ = 1/3.
    expect(f.seedTaus).toHaveLength(1);
    expect(f.seedTau).toBeCloseTo(1 / 3, 12);
    // One seed: no noise floor.
    expect(rankFigures(subnets.map((s) => ({ ...s, standalone: s.standalone.slice(0, 1) })), 1).seedTau).toBeNull();
  });
});

describe('rankRun', () => {
  it('scores inherited and standalone accuracy on the validation split, persists rank.json, and reports τ, ρ and the noise floor', async () => {
    const runsDir = join(await mkdtemp(join(tmpdir(), 'sy-rank-')), 'runs');
    const space = SearchSpace.parse({
      version: 1,
      name: 'tiny dense',
      input: { kind: 'vector', dim: 2 },
      numClasses: 4,
      stages: [{ id: 's1', depth: [1, 2], block: { type: 'dense', width: [4, 8, 16], activation: 'relu' } }],
    });
    const data = { kind: 'spirals' as const, classes: 4, samples: 400, noise: 0.2, seed: 1 };
    const runId = await createTestRun(runsDir, { space, data, backend: 'cpu', steps: 30, batchSize: 32, strategy: 'spos' }, { train: true });
    const progress: RankReport[] = [];
    const report = await rankRun({ runId, subnets: 3, steps: 20, seeds: 2 }, { runsDir, onProgress: (r) => progress.push(r) });
    expect(report.status).toBe('completed');
    expect(report.subnets).toHaveLength(3);
    const ds = await loadDataset(data, { input: space.input });
    for (const s of report.subnets) {
      expect(s.inherited).toMatchObject({ split: 'val', n: ds.val.n });
      expect(s.standalone.map((x) => x.seed)).toEqual([2, 3]);
      for (const x of s.standalone) expect(x).toMatchObject({ split: 'val', n: ds.val.n });
      expect(s.standaloneMean).toBeCloseTo((s.standalone[0]!.accuracy + s.standalone[1]!.accuracy) / 2, 12);
    }
    // Inherited = the supernet's own weights on the validation split, recomputed independently here.
    const restored = await restoreSupernet(join(runsDir, runId));
    for (const s of report.subnets) {
      const e = await evaluateArch(restored.net, s.arch, ds.val, { inputShape: [2] });
      expect(s.inherited.accuracy).toBeCloseTo(e.accuracy, 9);
    }
    restored.net.dispose();
    // Standalone scores come from fresh trainings (different seeds → different weights), not from the supernet.
    expect(report.subnets.some((s) => s.standalone[0]!.accuracy !== s.inherited.accuracy)).toBe(true);
    expect(report.subnets.some((s) => s.standalone[0]!.accuracy !== s.standalone[1]!.accuracy)).toBe(true);
    const inh = report.subnets.map((s) => s.inherited.accuracy);
    const mean = report.subnets.map((s) => s.standaloneMean!);
    const tauOrNull = (v: number) => (Number.isFinite(v) ? v : null);
    expect(report.kendallTau).toEqual(tauOrNull(kendallTauB(inh, mean)));
    expect(report.spearmanRho).toEqual(tauOrNull(spearmanRho(inh, mean)));
    const seedTau = kendallTauB(report.subnets.map((s) => s.standalone[0]!.accuracy), report.subnets.map((s) => s.standalone[1]!.accuracy));
    expect(report.seedTau).toEqual(tauOrNull(seedTau));
    // Progress after the inherited scores and after each of the 6 trainings, then the final report.
    expect(progress.map((p) => p.progress.done)).toEqual([0, 1, 2, 3, 4, 5, 6, 6]);
    expect(progress.at(-1)!.status).toBe('completed');
    const onDisk = RankReport.parse(JSON.parse(await readFile(join(runsDir, runId, 'rank.json'), 'utf8')));
    expect(onDisk).toEqual(report);
    expect(await readRankReport(runsDir, runId)).toEqual(report);
    expect(await readRankReport(runsDir, 'no-such-run')).toBeNull();
  });
});
