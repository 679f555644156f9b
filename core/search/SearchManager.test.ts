import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventHub } from '../protocol/EventHub.js';
import { selectBackend } from '../nn/backend.js';
import { SearchSummary, type SearchEvent } from '../protocol/protocol.js';
import { listExampleSpaces } from '../space/exampleSpaces.js';
import { SearchSpace } from '../space/SearchSpace.js';
import { createTestRun } from './createTestRun.js';
import { SearchManager } from './SearchManager.js';

let runsDir: string;
let runId: string;

beforeAll(async () => {
  await selectBackend('cpu');
  runsDir = join(await mkdtemp(join(tmpdir(), 'sy-search-')), 'runs');
  const space = SearchSpace.parse(listExampleSpaces().find((e) => e.id === 'spirals-moe')!.space);
  runId = await createTestRun(runsDir, {
    space,
    data: { kind: 'spirals', classes: 4, samples: 800, noise: 0.2, seed: 1 },
    backend: 'cpu',
  });
});
afterAll(() => tf.disposeVariables());

function collect(hub: EventHub) {
  const events: SearchEvent[] = [];
  hub.subscribe('onSearchEvent', {}, (e) => events.push(e));
  return events;
}

const timing = { batchSize: 1, warmup: 1, runs: 3 };

describe('SearchManager', () => {
  it('runs NSGA-II under a params budget, streams progress, persists every generation', async () => {
    const hub = new EventHub();
    const events = collect(hub);
    const m = new SearchManager({ runsDir, hub, backend: 'cpu', timing });
    // spirals-moe subnets hold 4.6k–24k parameters; a 12k budget makes part of the space infeasible.
    const { searchId } = await m.start({
      runId, strategy: 'nsga2', objectives: ['accuracy', 'params'], population: 6, generations: 2, evalSamples: 160, seed: 3,
      constraints: [{ objective: 'params', max: 12000 }],
    });
    const s = await m.wait(searchId);
    expect(s.status).toBe('completed');
    expect(s.evaluated.length).toBeGreaterThan(6);
    expect(s.evaluated.length).toBeLessThanOrEqual(18);
    // The largest subnet is evaluated first (it sets the hypervolume scale) and breaks the budget.
    expect(s.evaluated[0]!.params).toBeGreaterThan(12000);
    expect(s.evaluated[0]!.feasible).toBe(false);
    expect(s.front.length).toBeGreaterThan(0);
    for (const id of s.front) expect(s.evaluated[id]!.feasible).toBe(true);
    // Front members are mutually non-dominated and not dominated by any feasible subnet.
    const feasible = s.evaluated.filter((r) => r.feasible);
    for (const id of s.front) {
      const f = s.evaluated[id]!;
      expect(feasible.some((o) => o.accuracy >= f.accuracy && o.params <= f.params && (o.accuracy > f.accuracy || o.params < f.params))).toBe(false);
    }
    expect(s.hypervolume.map((h) => h.generation)).toEqual([0, 1, 2]);
    for (let i = 1; i < s.hypervolume.length; i++) expect(s.hypervolume[i]!.value).toBeGreaterThanOrEqual(s.hypervolume[i - 1]!.value);
    expect(s.hypervolume[2]!.value).toBeGreaterThan(0);
    expect(s.evaluated.every((r) => r.latencyMs > 0 && r.latencyLutMs! > 0)).toBe(true);
    expect(s.warnings).toBeUndefined();
    // Subnets are scored on the validation split (800 spirals: 160 test, 640 train of which 64 are held
    // out for validation), never on test, and each score carries its sample count and interval.
    for (const r of s.evaluated) {
      expect(r).toMatchObject({ split: 'val', n: 64 });
      expect(r.ci95![0]).toBeLessThanOrEqual(r.accuracy);
      expect(r.ci95![1]).toBeGreaterThanOrEqual(r.accuracy);
    }
    expect(Number.isFinite(s.lutErrorPct)).toBe(true);
    // τ between the table's predictions and this search's measurements, recomputed independently.
    const withLut = s.evaluated.filter((r) => r.latencyLutMs !== undefined);
    let c = 0;
    let d = 0;
    for (let i = 0; i < withLut.length; i++)
      for (let j = i + 1; j < withLut.length; j++) {
        const v = Math.sign(withLut[i]!.latencyLutMs! - withLut[j]!.latencyLutMs!) * Math.sign(withLut[i]!.latencyMs - withLut[j]!.latencyMs);
        if (v > 0) c++;
        else if (v < 0) d++;
      }
    if (s.lutTau !== undefined) expect(Math.sign(s.lutTau)).toBe(Math.sign(c - d));

    const progress = events.filter((e) => e.kind === 'progress');
    expect(progress.length).toBeGreaterThan(5);
    expect(progress.at(-1)).toMatchObject({ done: 18, total: 18, etaSec: 0 });
    expect(events.filter((e) => e.kind === 'evaluated').length).toBe(s.evaluated.length);
    expect(events.filter((e) => e.kind === 'summary').length).toBeGreaterThanOrEqual(4);

    const onDisk = SearchSummary.parse(JSON.parse(await readFile(join(runsDir, runId, 'searches', `${searchId}.json`), 'utf8')));
    expect(onDisk.evaluated.length).toBe(s.evaluated.length);
    expect(onDisk.status).toBe('completed');
    // The latency table was fitted to timed subnets and checked on held-out ones; it is kept next to
    // the runs folder for the next search only if it passed that check.
    expect(s.latencyModel).toMatchObject({ fromCache: false });
    expect(s.latencyModel!.fitN).toBeGreaterThan(2);
    // spirals-moe has few distinct graphs, most with a routing configuration of their own: too few
    // subnets may be left to hold out, and then the table cannot pass.
    if (s.latencyModel!.n < 3) expect(s.latencyModel!.passed).toBe(false);
    expect(onDisk.latencyModel).toEqual(s.latencyModel);
    const lutFiles = await import('node:fs/promises').then((fs) => fs.readdir(join(runsDir, '..', 'latency-tables')).catch(() => []));
    expect(lutFiles.length).toBe(s.latencyModel!.passed ? 1 : 0);
  });

  it('warns when the run was trained before validation splits (its validation images were training images)', async () => {
    const space = SearchSpace.parse(listExampleSpaces().find((e) => e.id === 'spirals-moe')!.space);
    const oldRun = await createTestRun(runsDir, { space, data: { kind: 'spirals', classes: 4, samples: 400, noise: 0.2, seed: 1 }, backend: 'cpu' });
    const file = join(runsDir, oldRun, 'run.json');
    const record = JSON.parse(await readFile(file, 'utf8'));
    expect(record.config.data.valFraction).toBe(0.1); // new runs record it
    delete record.config.data.valFraction;
    await writeFile(file, JSON.stringify(record));
    const m = new SearchManager({ runsDir, hub: new EventHub(), backend: 'cpu', timing });
    const { searchId } = await m.start({ runId: oldRun, strategy: 'random', objectives: ['accuracy', 'params'], population: 4, generations: 1, evalSamples: 64 });
    const s = await m.wait(searchId);
    expect(s.status).toBe('completed');
    expect(s.warnings?.[0]).toMatch(/trained before validation splits/);
  });

  it('random and predictor-guided evolution strategies, cancel, and listing', async () => {
    const hub = new EventHub();
    const events = collect(hub);
    const m = new SearchManager({ runsDir, hub, backend: 'cpu', timing });
    const rnd = await m.start({ runId, strategy: 'random', objectives: ['accuracy', 'latency', 'params'], population: 4, generations: 1, evalSamples: 160 });
    const evo = await m.start({ runId, strategy: 'evolution', objectives: ['accuracy', 'flops'], population: 4, generations: 1, evalSamples: 160 });
    const r = await m.wait(rnd.searchId);
    const e = await m.wait(evo.searchId);
    expect(r.status).toBe('completed');
    expect(r.evaluated.length).toBe(8);
    // Three objectives: the 3-D hypervolume of the normalised front lies inside the 1 × 1.1 × 1.1 box.
    expect(r.hypervolume.at(-1)!.value).toBeGreaterThan(0);
    expect(r.hypervolume.at(-1)!.value).toBeLessThan(1.21);
    expect(e.status).toBe('completed');
    expect(e.evaluated.length).toBe(8);
    expect(e.hypervolume.length).toBe(2);

    const big = await m.start({ runId, strategy: 'nsga2', population: 8, generations: 50, evalSamples: 160 });
    await new Promise<void>((resolve) => {
      const off = hub.subscribe('onSearchEvent', { searchId: big.searchId }, (ev) => {
        if (ev.kind === 'evaluated') {
          off();
          resolve();
        }
      });
    });
    expect(await m.cancel(big.searchId)).toEqual({ cancelled: true });
    const stopped = await m.wait(big.searchId).catch(() => null);
    expect(stopped?.status).toBe('stopped');
    expect(stopped!.evaluated.length).toBeLessThan(20);
    expect(await m.cancel('nope')).toEqual({ cancelled: false });

    // One hypervolume scale per run: every search reads the divisors stored with the run at its first
    // search of each objective, though each search times the largest subnet anew.
    const scale = JSON.parse(await readFile(join(runsDir, runId, 'searches', 'scale.json'), 'utf8'));
    expect(Object.keys(scale.scales).sort()).toEqual(['flops', 'latency', 'params']);
    expect(r.hvScale).toEqual({ scales: { latency: scale.scales.latency, params: scale.scales.params }, ref: { accuracy: 1, latency: 1.1, params: 1.1 } });
    expect(stopped!.hvScale!.scales).toEqual({ latency: scale.scales.latency });
    expect(e.hvScale!.scales).toEqual({ flops: scale.scales.flops });

    // A search file left 'running' by a dead process reads back as interrupted.
    const ghost = { ...r, id: '00000000-000000-dead00', status: 'running' };
    await writeFile(join(runsDir, runId, 'searches', `${ghost.id}.json`), JSON.stringify(ghost));
    const list = await m.list(runId);
    expect(list.map((s) => s.id)).toEqual(expect.arrayContaining([rnd.searchId, evo.searchId, big.searchId, ghost.id]));
    expect(list.find((s) => s.id === ghost.id)!.status).toBe('interrupted');
    expect(list.find((s) => s.id === big.searchId)!.status).toBe('stopped');
    expect(events.some((ev) => ev.kind === 'summary' && ev.searchId === evo.searchId)).toBe(true);
    await expect(m.start({ runId: 'no-such-run' })).rejects.toThrow(/not found/);
    await expect(m.start({ runId, population: 2 } as never)).rejects.toThrow(/population/);
  });
});
