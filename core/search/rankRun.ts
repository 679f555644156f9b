/**
 * Ranking quality of a trained supernet: does inherited-weight accuracy order subnets the way
 * training them alone does? The figure weight-sharing NAS papers judge a supernet by (Kendall τ in
 * few-shot NAS, Zhao et al. 2021; PA&DA, Lu et al. 2023; Yu et al. 2020, "Evaluating the search
 * phase of neural architecture search").
 *
 * 1. Pick N subnets spread over the space: a pool of distinct random subnets plus the smallest and the
 *    largest, ordered by parameter count, taken at evenly spaced ranks (both ends included).
 * 2. Score each with the supernet's weights on the validation split (BatchNorm statistics re-estimated
 *    for the subnet when the space has BatchNorm, as search does).
 * 3. Train each alone from scratch for S steps with R seeds (the run's own trainer, strategy 'plain'
 *    with the subnet as the fixed arch, the run's batch size, optimiser and learning rate), and score
 *    it on the same validation samples.
 * 4. Kendall τ-b and Spearman ρ between inherited and mean standalone accuracy; the mean τ-b between
 *    the standalone accuracies of every pair of seeds is the noise floor (no proxy can rank better than
 *    training agrees with itself).
 *
 * Trainings run one after another in this process (a CLI has no UI thread to keep free; the app runs
 * this in a child process). The report is written to <run>/rank.json after every training, atomically,
 * so a crash loses at most the training in flight.
 */
import * as tf from '@tensorflow/tfjs';
import { join } from 'node:path';
import { loadDataset } from '../data/Dataset.js';
import { inputShapeOf } from '../nn/graph/evaluate.js';
import { selectBackend, currentBackend } from '../nn/backend.js';
import { buildSupernet } from '../nn/Supernet.js';
import type { Supernet } from '../nn/types.js';
import { accuracyEstimate } from '../protocol/accuracyInterval.js';
import { RankConfig, RankReport, TrainConfig, type BackendChoice, type RankConfigInput, type RankedSubnet } from '../protocol/protocol.js';
import { canonicalVector, encodeArch, largestArch, sampleArch, smallestArch } from '../space/archCodec.js';
import { createRng } from '../space/rng.js';
import type { Arch, SearchSpace } from '../space/SearchSpace.js';
import { atomicWriteFile } from '../train/atomicWrite.js';
import { hasBatchNorm, recalibrationBatches } from '../train/batchNorm.js';
import { restoreSupernet } from '../train/restoreSupernet.js';
import { RunStore } from '../train/RunStore.js';
import { train } from '../train/Trainer.js';
import { evaluateSubnet } from './evaluateSubnet.js';
import { kendallTauB, spearmanRho } from './rankCorrelation.js';

export const RANK_FILE = 'rank.json';

export interface RankRunOptions {
  runsDir: string;
  backend?: BackendChoice;
  signal?: AbortSignal;
  /** After every training (and once the inherited scores are in). */
  onProgress?: (report: RankReport) => void;
  /** Clock in ms (tests). */
  now?: () => number;
  /** Who trains the subnets alone (default: this process, one after another; core/queue: workers). */
  standalone?: StandaloneTrainer;
}

/**
 * Trains one subnet alone from scratch and hands back the trained network, which the ranking scores
 * on its validation samples and disposes. The default trains here; a job queue trains on workers
 * (core/queue/queueRank.ts) and runs up to `parallel` at once.
 */
export interface StandaloneTrainer {
  /** Trainings at once within one seed pass. */
  parallel: number;
  /** Throws an AbortError when stopped. `trainSec`: the training alone (default: the call's wall time). */
  train(config: TrainConfig, signal?: AbortSignal): Promise<{ net: Supernet; trainSec?: number }>;
}

/** Trains in this process on the ranking's own copy of the dataset. */
export function localStandaloneTrainer(space: SearchSpace, dataset: Parameters<typeof train>[0]['dataset']): StandaloneTrainer {
  return {
    parallel: 1,
    async train(config, signal) {
      const net = buildSupernet(space, { seed: config.seed });
      try {
        const result = await train({
          config,
          net,
          dataset,
          signal,
          snapshots: 0,
          sink: { metrics: () => undefined, specialization: () => undefined, checkpoint: () => undefined },
        });
        if (result.status !== 'completed') throw new DOMException('rank stopped', 'AbortError');
        return { net };
      } catch (e) {
        net.dispose();
        throw e;
      }
    },
  };
}

/** `fn` over `items`, at most `limit` at once; the first error stops new starts and is rethrown. */
async function forEachLimit<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failed: { e: unknown } | null = null;
  const lane = async () => {
    while (!failed && next < items.length) {
      const item = items[next++]!;
      try {
        await fn(item);
      } catch (e) {
        failed ??= { e };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, lane));
  if (failed) throw (failed as { e: unknown }).e;
}

/** Canonical vector as a string: one key per distinct subnet. */
function subnetKey(space: SearchSpace, arch: Arch): string {
  return canonicalVector(space, encodeArch(space, arch)).join(',');
}

/**
 * N subnets spread over the space by parameter count: a pool of distinct subnets (the smallest, the
 * largest and up to `poolSize` random ones) sorted by params, taken at ranks round(i·(P−1)/(N−1)).
 */
export function pickSubnetsByParams(space: SearchSpace, count: (arch: Arch) => number, n: number, seed: number, poolSize = 40 * n): Arch[] {
  const rng = createRng(seed);
  const pool = new Map<string, { arch: Arch; params: number }>();
  const add = (arch: Arch) => {
    const k = subnetKey(space, arch);
    if (!pool.has(k)) pool.set(k, { arch, params: count(arch) });
  };
  add(smallestArch(space));
  add(largestArch(space));
  for (let i = 0; i < 20 * poolSize && pool.size < poolSize + 2; i++) add(sampleArch(space, rng));
  const sorted = [...pool.values()].sort((a, b) => a.params - b.params);
  if (sorted.length <= n) return sorted.map((p) => p.arch);
  const picked = new Set<number>();
  for (let i = 0; i < n; i++) picked.add(Math.round((i * (sorted.length - 1)) / (n - 1)));
  return [...picked].sort((a, b) => a - b).map((i) => sorted[i]!.arch);
}

/** τ-b and ρ between inherited and mean standalone accuracy; seed-pair τs (the noise floor). */
export function rankFigures(subnets: readonly Pick<RankedSubnet, 'inherited' | 'standalone' | 'standaloneMean'>[], seeds: number): Pick<RankReport, 'kendallTau' | 'spearmanRho' | 'seedTaus' | 'seedTau'> {
  const done = subnets.filter((s) => s.standaloneMean !== null);
  const finite = (v: number) => (Number.isFinite(v) ? v : null);
  const inherited = done.map((s) => s.inherited.accuracy);
  const standalone = done.map((s) => s.standaloneMean!);
  const seedTaus: number[] = [];
  const seedIds = [...new Set(subnets.flatMap((s) => s.standalone.map((r) => r.seed)))].sort((a, b) => a - b).slice(0, seeds);
  for (let a = 0; a < seedIds.length; a++) {
    for (let b = a + 1; b < seedIds.length; b++) {
      const pairs = subnets
        .map((s) => [s.standalone.find((r) => r.seed === seedIds[a])?.accuracy, s.standalone.find((r) => r.seed === seedIds[b])?.accuracy] as const)
        .filter((p): p is readonly [number, number] => p[0] !== undefined && p[1] !== undefined);
      const t = pairs.length >= 2 ? kendallTauB(pairs.map((p) => p[0]), pairs.map((p) => p[1])) : NaN;
      if (Number.isFinite(t)) seedTaus.push(t);
    }
  }
  return {
    kendallTau: done.length >= 2 ? finite(kendallTauB(inherited, standalone)) : null,
    spearmanRho: done.length >= 2 ? finite(spearmanRho(inherited, standalone)) : null,
    seedTaus,
    seedTau: seedTaus.length ? seedTaus.reduce((s, v) => s + v, 0) / seedTaus.length : null,
  };
}

export function rankFile(runsDir: string, runId: string): string {
  return join(new RunStore(runsDir).runDir(runId), RANK_FILE);
}

/** The stored report of a run, or null when it has none. */
export async function readRankReport(runsDir: string, runId: string): Promise<RankReport | null> {
  const { readFile } = await import('node:fs/promises');
  let text: string;
  try {
    text = await readFile(rankFile(runsDir, runId), 'utf8');
  } catch {
    return null;
  }
  const parsed = RankReport.safeParse(JSON.parse(text));
  if (!parsed.success) {
    const i = parsed.error.issues[0]!;
    throw new Error(`${rankFile(runsDir, runId)}: ${i.path.join('.') || '(root)'}: ${i.message}`);
  }
  return parsed.data;
}

/** Run the whole measurement and return the final report (also on disk). */
export async function rankRun(cfgIn: RankConfigInput, opts: RankRunOptions): Promise<RankReport> {
  const cfg = RankConfig.parse(cfgIn);
  const now = opts.now ?? (() => Date.now());
  const store = new RunStore(opts.runsDir);
  const restored = await restoreSupernet(store.runDir(cfg.runId));
  const supernet = restored.net;
  const record = restored.record;
  const space = supernet.space;
  const backend = currentBackend() ?? (await selectBackend(opts.backend ?? 'auto'));
  const ds = await loadDataset(record.config.data, { input: space.input });
  const evalSamples = cfg.evalSamples > 0 ? Math.min(cfg.evalSamples, ds.val.n) : ds.val.n;
  const bnBatches = hasBatchNorm(space) ? recalibrationBatches(ds.train, inputShapeOf(space.input)) : [];
  const file = rankFile(opts.runsDir, cfg.runId);
  const report: RankReport = {
    runId: cfg.runId,
    status: 'running',
    config: cfg,
    createdAt: new Date(now()).toISOString(),
    updatedAt: new Date(now()).toISOString(),
    backend: backend.name,
    device: backend.device,
    supernetStep: restored.step,
    subnets: [],
    kendallTau: null,
    spearmanRho: null,
    seedTaus: [],
    seedTau: null,
    progress: { done: 0, total: 0, etaSec: 0 },
    pid: process.pid,
  };
  // Writes in call order (parallel trainings finish in any order; the latest report must land last).
  let written = Promise.resolve();
  const persist = async () => {
    report.updatedAt = new Date(now()).toISOString();
    Object.assign(report, rankFigures(report.subnets, cfg.seeds));
    const text = JSON.stringify(report);
    written = written.then(() => atomicWriteFile(file, text));
    await written;
    opts.onProgress?.(structuredClone(report));
  };
  const score = async (net: Supernet, arch: Arch) => {
    const e = await evaluateSubnet({ net, val: ds.val, evalSamples, bnBatches, measureLatency: false }, arch);
    return accuracyEstimate('val', e.accuracy, e.samples);
  };
  let supernetDisposed = false;
  try {
    const archs = pickSubnetsByParams(space, (a) => supernet.countParams(a), cfg.subnets, cfg.seed);
    for (const arch of archs) {
      report.subnets.push({
        arch,
        vector: encodeArch(space, arch),
        params: supernet.countParams(arch),
        flops: supernet.countFlops(arch),
        inherited: await score(supernet, arch),
        standalone: [],
        standaloneMean: null,
      });
    }
    report.progress = { done: 0, total: archs.length * cfg.seeds, etaSec: 0 };
    await persist();
    supernet.dispose();
    supernetDisposed = true;
    let trainTime = 0;
    // Seed-major order: after the first pass every subnet has one standalone score, so an early
    // stop still gives τ over all subnets.
    const trainer = opts.standalone ?? localStandaloneTrainer(space, ds);
    for (let r = 1; r <= cfg.seeds; r++) {
      await forEachLimit(report.subnets, trainer.parallel, async (sub) => {
        opts.signal?.throwIfAborted();
        const t0 = now();
        const config = TrainConfig.parse({
          ...record.config,
          name: `rank ${cfg.runId}`,
          strategy: 'plain',
          arch: sub.arch,
          steps: cfg.steps,
          seed: cfg.seed + r,
          evalEvery: cfg.steps,
          checkpointEvery: cfg.steps,
        });
        const { net, trainSec: trained } = await trainer.train(config, opts.signal);
        try {
          const est = await score(net, sub.arch);
          const trainSec = trained ?? (now() - t0) / 1000;
          sub.standalone.push({ ...est, seed: config.seed, trainSec });
          sub.standaloneMean = sub.standalone.reduce((s, x) => s + x.accuracy, 0) / sub.standalone.length;
          trainTime += trainSec;
        } finally {
          net.dispose();
        }
        const done = report.progress.done + 1;
        const left = report.progress.total - done;
        report.progress = { done, total: report.progress.total, etaSec: ((trainTime / done) * left) / Math.min(trainer.parallel, Math.max(1, left)) };
        await persist();
      });
    }
    report.status = 'completed';
  } catch (e) {
    if (opts.signal?.aborted) report.status = 'stopped';
    else {
      report.status = 'failed';
      report.error = e instanceof Error ? e.message : String(e);
    }
  } finally {
    tf.dispose(bnBatches);
    if (!supernetDisposed) supernet.dispose();
  }
  report.progress.etaSec = 0;
  await persist();
  return report;
}
