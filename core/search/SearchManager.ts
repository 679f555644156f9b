/**
 * Multi-objective subnet search over a trained run's supernet: random sampling, NSGA-II, or
 * predictor-guided evolution (LINAS), with constraints (e.g. latency ≤ budget) handled by
 * constraint-domination.
 *
 * Each search persists its whole state to `<run>/searches/<id>.json` after every generation (written
 * atomically, so a crash loses at most the generation in flight), streams progress with an ETA, every
 * evaluated subnet and a summary per generation through the EventHub, and can be cancelled between
 * evaluations. Searches run one at a time (tfjs has one backend per process); later ones queue.
 *
 * Accuracy is scored on the first `evalSamples` of the validation split (held out of the training set,
 * the one the trainer validates on; the test split is left for the final report of chosen subnets); latency on the standalone subnet graph at batch 1 (see evaluateSubnet.ts), with the
 * lookup table's prediction beside it, its mean error in the summary, and the table's own held-out
 * check (LatencyTable.ts) as `latencyModel`.
 */
import * as tf from '@tensorflow/tfjs';
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadDataset } from '../data/Dataset.js';
import { hasBatchNorm, recalibrationBatches } from '../train/batchNorm.js';
import { inputShapeOf } from '../nn/graph/evaluate.js';
import { graphSize } from '../nn/graph/storage.js';
import type { EventHub } from '../protocol/EventHub.js';
import { currentBackend, selectBackend } from '../nn/backend.js';
import type { Supernet } from '../nn/types.js';
import {
  ProtocolError,
  SearchConfig,
  SearchSummary,
  type BackendChoice,
  type EvaluatedSubnet,
  type Objective,
  type SearchConfigInput,
} from '../protocol/protocol.js';
import { archDims, archKey, canonicalVector, decodeArch, encodeArch, largestArch, smallestArch } from '../space/archCodec.js';
import { accuracyInterval } from '../protocol/accuracyInterval.js';
import { atomicWriteFile } from '../train/atomicWrite.js';
import { restoreSupernet } from '../train/restoreSupernet.js';
import { RunStore } from '../train/RunStore.js';
import { evaluateSubnet, measureGraphLatency, subnetGraph, type EvaluateSubnetContext } from './evaluateSubnet.js';
import { calibrateLatencyTable, verifyLatencyTable } from './latencyCalibration.js';
import { kendallTauB } from './rankCorrelation.js';
import { hypervolume, normaliseForHypervolume } from './hypervolume.js';
import { fixRunScale, RUN_SCALE_FILE } from './runScale.js';
import { LatencyTable, latencyTablePath, meanAbsPercentError, type TimingOptions } from './LatencyTable.js';
import type { Evaluation, Nsga2Problem } from './nsga2.js';
import { excess } from './strategies/SearchStrategy.js';
import { searchStrategies } from './strategies/registry.js';
import { paretoFront, paretoRanks } from './paretoFront.js';

export interface SearchManagerOptions {
  runsDir: string;
  hub: EventHub;
  /** Backend to select when none is active yet (default 'auto'). */
  backend?: BackendChoice;
  /** Latency timing (defaults: batch 1, 3 warm-up runs, median of 15). */
  timing?: Partial<TimingOptions>;
  /** Clock in ms (tests). */
  now?: () => number;
}

interface SearchState {
  summary: SearchSummary;
  createdAt: string;
  backend: string;
  device: string;
  /** The run's hypervolume divisor per cost objective (runScale.ts; see hypervolume.ts). */
  scales: Partial<Record<Objective, number>>;
}

interface ActiveSearch {
  state: SearchState;
  controller: AbortController;
  done: Promise<SearchSummary>;
}

const SEARCH_ID = /^[\w.-]+$/;

export class SearchManager {
  private readonly active = new Map<string, ActiveSearch>();
  private queue: Promise<unknown> = Promise.resolve();
  private readonly store: RunStore;
  private readonly now: () => number;

  constructor(private readonly opts: SearchManagerOptions) {
    this.store = new RunStore(opts.runsDir);
    this.now = opts.now ?? (() => Date.now());
  }

  /** Validate, create the search record, queue it, and return its id at once. */
  async start(cfgIn: SearchConfigInput): Promise<{ searchId: string }> {
    const parsed = SearchConfig.safeParse(cfgIn);
    if (!parsed.success) {
      const i = parsed.error.issues[0]!;
      throw new ProtocolError('invalid', `invalid search config: ${i.path.join('.') || '(root)'}: ${i.message}`);
    }
    const cfg = parsed.data;
    if (!(await this.store.exists(cfg.runId))) throw new ProtocolError('not_found', `run "${cfg.runId}" not found`);
    const searchId = `${new Date(this.now()).toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15)}-${randomBytes(3).toString('hex')}`;
    const state: SearchState = {
      summary: { id: searchId, runId: cfg.runId, status: 'queued', config: cfg, evaluated: [], front: [], hypervolume: [] },
      createdAt: new Date(this.now()).toISOString(),
      backend: '',
      device: '',
      scales: {},
    };
    await this.persist(state);
    const controller = new AbortController();
    const done = this.queue.then(() => this.run(state, controller.signal));
    this.queue = done.catch(() => undefined);
    this.active.set(searchId, { state, controller, done });
    done.finally(() => this.active.delete(searchId)).catch(() => undefined);
    return { searchId };
  }

  /** Stop a queued or running search (it keeps what it evaluated, with status 'stopped'). */
  async cancel(searchId: string): Promise<{ cancelled: boolean }> {
    const a = this.active.get(searchId);
    if (!a) return { cancelled: false };
    a.controller.abort();
    return { cancelled: true };
  }

  /** The final summary of a search started by this manager. */
  async wait(searchId: string): Promise<SearchSummary> {
    const a = this.active.get(searchId);
    if (!a) throw new ProtocolError('not_found', `search "${searchId}" is not running in this process`);
    return a.done;
  }

  /** Every search of a run, newest first: live state for running ones, the files for the rest. */
  async list(runId: string): Promise<SearchSummary[]> {
    if (!(await this.store.exists(runId))) throw new ProtocolError('not_found', `run "${runId}" not found`);
    const dir = join(this.store.runDir(runId), 'searches');
    let names: string[];
    try {
      names = await readdir(dir);
    } catch {
      names = [];
    }
    const out = new Map<string, SearchSummary>();
    for (const name of names) {
      if (!name.endsWith('.json') || name.startsWith('.') || name === RUN_SCALE_FILE) continue;
      try {
        const s = SearchSummary.parse(JSON.parse(await readFile(join(dir, name), 'utf8')));
        // A search recorded as queued/running that no live manager owns was cut off (crash, restart).
        if ((s.status === 'running' || s.status === 'queued') && !this.active.has(s.id)) s.status = 'interrupted';
        out.set(s.id, s);
      } catch {
        // a torn or foreign file
      }
    }
    for (const a of this.active.values()) if (a.state.summary.runId === runId) out.set(a.state.summary.id, structuredClone(a.state.summary));
    return [...out.values()].sort((a, b) => (a.id < b.id ? 1 : -1));
  }

  async close(): Promise<void> {
    for (const a of this.active.values()) a.controller.abort();
    await Promise.allSettled([...this.active.values()].map((a) => a.done));
  }

  // -------------------------------------------------------------------------------------------------

  private file(state: SearchState): string {
    if (!SEARCH_ID.test(state.summary.id)) throw new Error(`bad search id ${state.summary.id}`);
    return join(this.store.runDir(state.summary.runId), 'searches', `${state.summary.id}.json`);
  }

  private async persist(state: SearchState): Promise<void> {
    const file = this.file(state);
    await mkdir(join(file, '..'), { recursive: true });
    await atomicWriteFile(file, JSON.stringify({ ...state.summary, createdAt: state.createdAt, backend: state.backend, device: state.device, scales: state.scales }));
  }

  private emitSummary(state: SearchState): void {
    this.opts.hub.emit('onSearchEvent', { kind: 'summary', searchId: state.summary.id, summary: structuredClone(state.summary) });
  }

  private async run(state: SearchState, signal: AbortSignal): Promise<SearchSummary> {
    const s = state.summary;
    const cfg = s.config;
    let net: Supernet | null = null;
    let lut: LatencyTable | null = null;
    let bnBatches: tf.Tensor[] = [];
    try {
      if (signal.aborted) throw signal.reason;
      s.status = 'running';
      const backend = currentBackend() ?? (await selectBackend(this.opts.backend ?? 'auto'));
      state.backend = backend.name;
      state.device = backend.device;
      const restored = await restoreSupernet(this.store.runDir(cfg.runId));
      net = restored.net;
      const space = net.space;
      const ds = await loadDataset(restored.record.config.data, { input: space.input });
      if (restored.record.config.data.valFraction === undefined) {
        s.warnings = [
          'this run was trained before validation splits: its validation split is part of the images it trained on, so accuracies ' +
            'here are optimistic and rank subnets by fit to training data; retrain the run for held-out validation',
        ];
      }
      if (hasBatchNorm(space)) bnBatches = recalibrationBatches(ds.train, inputShapeOf(space.input));
      lut = await LatencyTable.open({
        path: latencyTablePath(this.opts.runsDir, backend.name, backend.device, space),
        backend: backend.name,
        device: backend.device,
        space,
        timing: this.opts.timing,
      });
      const ctx: EvaluateSubnetContext = { net, val: ds.val, evalSamples: cfg.evalSamples, bnBatches, lut, timing: this.opts.timing };
      // Warm the backend up (JIT, kernel caches) on the largest subnet before anything is timed: its
      // latency may fix the run's hypervolume scale, so a cold first run would skew it.
      const largest = largestArch(space);
      const largestGraph = await subnetGraph(net, largest);
      await measureGraphLatency(largestGraph, { ...this.opts.timing, runs: 5 });
      // One hypervolume scale per run (runScale.ts): read it, or measure the largest subnet's cost for
      // the objectives this run has not been searched on yet and store it with the run.
      const supernet = net;
      const hv = await fixRunScale(
        this.store.runDir(cfg.runId),
        cfg.objectives,
        (o) => (o === 'params' ? supernet.countParams(largest) : o === 'flops' ? supernet.countFlops(largest) : o === 'bits' ? graphSize(largestGraph).bits : measureGraphLatency(largestGraph, this.opts.timing)),
        { backend: backend.name, device: backend.device },
      );
      state.scales = hv.scales;
      s.hvScale = {
        scales: Object.fromEntries(cfg.objectives.filter((o) => o !== 'accuracy').map((o) => [o, hv.scales[o]!])),
        ref: Object.fromEntries(cfg.objectives.map((o) => [o, hv.ref[o]!])),
      };
      // Fit the latency table to whole-subnet timings unless a stored one (same backend, device and
      // space shape) passed its held-out check; the check's figures go with the search.
      // A stored table is re-checked on freshly timed subnets first (load and machine state change
      // between searches) and refitted if that check fails.
      const reuse = lut.check ? await verifyLatencyTable(lut, net, { seed: cfg.seed }) : null;
      if (!reuse?.passed) await calibrateLatencyTable(lut, net, { seed: cfg.seed, signal });
      s.latencyModel = reuse?.passed ? { ...reuse, fromCache: true } : { ...lut.check!, fromCache: false };
      await this.persist(state);
      this.emitSummary(state);
      await this.searchLoop(state, ctx, signal);
      s.status = 'completed';
    } catch (e) {
      if (signal.aborted) s.status = 'stopped';
      else {
        s.status = 'failed';
        s.error = e instanceof Error ? e.message : String(e);
      }
    } finally {
      tf.dispose(bnBatches);
      net?.dispose();
    }
    // A table that passes its held-out check is kept for the next search (one that fails never is);
    // subnets timed to extend it during the search refitted it, so report its latest check.
    if (lut?.check && !s.latencyModel?.fromCache) s.latencyModel = { ...lut.check, fromCache: false };
    // The search's own subnets were predicted, then timed: a table whose predictions missed those
    // timings (the machine's speed moved since the fit) is not kept, whatever its held-out check said.
    const timed = s.evaluated.filter((r) => r.latencyLutMs !== undefined && Number.isFinite(r.latencyMs));
    const inSearch = lut?.check ? lut.checkMeasured(timed.map((r) => r.latencyLutMs!), timed.map((r) => r.latencyMs)) : null;
    if (inSearch && inSearch.n >= 3 && !inSearch.passed && lut!.check!.passed) {
      const f = (v: number | null, d: number) => (v === null ? 'n/a' : v.toFixed(d));
      s.warnings = [
        ...(s.warnings ?? []),
        `the latency table's error on this search's ${inSearch.n} subnets (MAPE ${f(inSearch.mapePct, 1)} %, τ ${f(inSearch.tau, 2)}) misses its check ` +
          `(≤ ${inSearch.maxMapePct} %, τ ≥ ${inSearch.minTau}), though its held-out check passed: this machine's timings moved since the fit; the table is not kept, the next search refits it`,
      ];
    }
    await lut?.save().catch(() => undefined);
    this.finishSummary(state);
    await this.persist(state).catch(() => undefined);
    this.emitSummary(state);
    return structuredClone(s);
  }

  /** Objective values of a record, in config order (accuracy maximised, the rest minimised). */
  private objectivesOf(rec: EvaluatedSubnet, objectives: readonly Objective[]): number[] {
    return objectives.map((o) => value(rec, o));
  }

  private finishSummary(state: SearchState): void {
    const s = state.summary;
    const objs = s.config.objectives;
    const points = s.evaluated.map((r) => this.objectivesOf(r, objs));
    const signs = objs.map((o) => (o === 'accuracy' ? -1 : 1));
    const violations = s.evaluated.map((r) => violationOf(r, s.config.constraints));
    const ranks = paretoRanks(points, signs, violations);
    s.evaluated.forEach((r, i) => (r.rank = ranks[i]));
    const feasible = s.evaluated.filter((r) => r.feasible);
    // Encodings that differ only in identity blocks are one network with identical objectives; the
    // front lists each objective vector once (its first evaluation).
    const seen = new Set<string>();
    s.front = paretoFront(feasible.map((r) => this.objectivesOf(r, objs)), signs)
      .map((i) => feasible[i]!)
      .filter((r) => {
        const key = this.objectivesOf(r, objs).join(',');
        if (seen.has(key)) return false;
        seen.add(key);
        return true;
      })
      .map((r) => r.id);
    const withLut = s.evaluated.filter((r) => r.latencyLutMs !== undefined && Number.isFinite(r.latencyMs));
    if (withLut.length > 0) s.lutErrorPct = meanAbsPercentError(withLut.map((r) => r.latencyLutMs!), withLut.map((r) => r.latencyMs));
    const lutTau = kendallTauB(withLut.map((r) => r.latencyLutMs!), withLut.map((r) => r.latencyMs));
    if (Number.isFinite(lutTau)) s.lutTau = lutTau;
  }

  private currentHypervolume(state: SearchState): number {
    const s = state.summary;
    const objs = s.config.objectives;
    const front = s.evaluated.filter((r) => s.front.includes(r.id));
    const scales = objs.map((o) => state.scales[o] ?? 1);
    const { points, ref } = normaliseForHypervolume(objs, front.map((r) => this.objectivesOf(r, objs)), scales);
    return hypervolume(points, ref);
  }

  private async searchLoop(state: SearchState, ctx: EvaluateSubnetContext, signal: AbortSignal): Promise<void> {
    const s = state.summary;
    const cfg = s.config;
    const space = ctx.net.space;
    const dims = archDims(space);
    const objs = cfg.objectives;
    const signs = objs.map((o) => (o === 'accuracy' ? -1 : 1));
    const total = cfg.population * (cfg.generations + 1);
    const cache = new Map<string, EvaluatedSubnet>();
    let evalTime = 0;
    const canonical = (x: readonly number[]) => canonicalVector(space, x);
    const initial = [encodeArch(space, largestArch(space)), encodeArch(space, smallestArch(space))];

    const evaluate = async (x: readonly number[], generation: number): Promise<Evaluation> => {
      const arch = decodeArch(space, x);
      const key = archKey(arch);
      let rec = cache.get(key);
      if (!rec) {
        signal.throwIfAborted();
        const t0 = this.now();
        const r = await evaluateSubnet(ctx, arch);
        evalTime += this.now() - t0;
        rec = {
          id: s.evaluated.length,
          arch,
          vector: encodeArch(space, arch),
          accuracy: r.accuracy,
          split: 'val',
          n: r.samples,
          ci95: accuracyInterval(Math.round(r.accuracy * r.samples), r.samples),
          latencyMs: r.latencyMs,
          ...(r.latencyLutMs !== undefined ? { latencyLutMs: r.latencyLutMs } : {}),
          params: r.params,
          flops: r.flops,
          bits: r.bits,
          generation,
          feasible: true,
        };
        rec.feasible = violationOf(rec, cfg.constraints) === 0;
        cache.set(key, rec);
        s.evaluated.push(rec);
        const done = s.evaluated.length;
        const perEval = evalTime / done / 1000;
        this.opts.hub.emit('onSearchEvent', { kind: 'evaluated', searchId: s.id, subnets: [structuredClone(rec)] });
        this.opts.hub.emit('onSearchEvent', { kind: 'progress', searchId: s.id, done, total, etaSec: Math.max(0, (total - done) * perEval) });
        // Let queued I/O (cancel requests, other clients) run between evaluations.
        await new Promise((r) => setImmediate(r));
      }
      return { objectives: this.objectivesOf(rec, objs), violation: violationOf(rec, cfg.constraints) };
    };

    const endGeneration = async (generation: number) => {
      this.finishSummary(state);
      s.hypervolume = s.hypervolume.filter((h) => h.generation !== generation);
      s.hypervolume.push({ generation, value: this.currentHypervolume(state) });
      await this.persist(state);
      this.emitSummary(state);
    };

    const problem: Nsga2Problem = {
      variables: { kind: 'categorical', dims },
      signs,
      canonical,
      evaluate: (x, c) => evaluate(x, c.generation),
    };

    // The inner searches revisit candidates often; slicing weights for a latency lookup is not free.
    const cheapCache = new Map<string, number | undefined>();
    const cheapValue = async (o: Objective, x: readonly number[]): Promise<number | undefined> => {
      const arch = decodeArch(space, x);
      const key = `${o}|${archKey(arch)}`;
      if (cheapCache.has(key)) return cheapCache.get(key);
      let v: number | undefined;
      if (o === 'params') v = ctx.net.countParams(arch);
      else if (o === 'flops') v = ctx.net.countFlops(arch);
      else if (o === 'bits') v = graphSize(await subnetGraph(ctx.net, arch)).bits;
      else if (o === 'latency' && ctx.lut) v = await ctx.lut.predict(await subnetGraph(ctx.net, arch));
      cheapCache.set(key, v);
      return v;
    };
    await searchStrategies[cfg.strategy].run({ problem, config: cfg, initial, signal, endGeneration, cheapValue });
    this.opts.hub.emit('onSearchEvent', { kind: 'progress', searchId: s.id, done: total, total, etaSec: 0 });
  }
}

function value(rec: EvaluatedSubnet, o: Objective): number {
  switch (o) {
    case 'accuracy':
      return rec.accuracy;
    case 'latency':
      return rec.latencyMs;
    case 'params':
      return rec.params;
    case 'flops':
      return rec.flops;
    case 'bits':
      return rec.bits ?? 32 * rec.params;
  }
}

/** Σ relative excess over each bound: 0 when every constraint holds. */
function violationOf(rec: EvaluatedSubnet, constraints: readonly { objective: Objective; max: number }[]): number {
  return constraints.reduce((sum, c) => sum + excess(value(rec, c.objective), c.max), 0);
}

