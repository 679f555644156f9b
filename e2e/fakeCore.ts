/**
 * A stand-in core with the real protocol surface and synthetic training/search streams, for developing
 * and screenshotting the renderer before (or without) the real trainer and search. Space validation and
 * examples are the real ones. Not used by the e2e scenarios against `switchyard serve`.
 */
import type { Core } from '../core/host/createCore.js';
import { EventHub, type Handlers } from '../core/host/session.js';
import {
  ProtocolError,
  PROTOCOL_VERSION,
  type CompressResult,
  type EvaluatedSubnet,
  type ExpertLoad,
  type MetricPoint,
  type RankReport,
  type RunSummary,
  type SearchSummary,
  type Specialization,
  type TrainConfig,
} from '../core/protocol/protocol.js';
import { accuracyEstimate } from '../core/protocol/accuracyInterval.js';
import { encodeArch, sampleArch } from '../core/space/archCodec.js';
import { listExampleSpaces } from '../core/space/exampleSpaces.js';
import { createRng } from '../core/space/rng.js';
import type { SearchSpace } from '../core/space/SearchSpace.js';
import { describeRouting } from '../core/space/routing/registry.js';
import { cardinality, routingShape, supernetParams, validateSpace } from '../core/space/validateSpace.js';

interface FakeRun {
  summary: RunSummary;
  config: TrainConfig;
  metrics: MetricPoint[];
  spec: Specialization | null;
  timer: ReturnType<typeof setInterval> | null;
}

const BACKEND = { name: 'cpu' as const, device: 'CPU (fake core)', available: ['cpu' as const], notes: ['fake core for UI development'] };

export function createFakeCore(opts: { stepsPerTick?: number; tickMs?: number } = {}): Core {
  const hub = new EventHub();
  const runs = new Map<string, FakeRun>();
  const searches = new Map<string, SearchSummary>();
  const rankings = new Map<string, RankReport>();
  const compressions = new Map<string, CompressResult[]>();
  const tickMs = opts.tickMs ?? 100;
  const stepsPerTick = opts.stepsPerTick ?? 2;
  let n = 0;

  const moeStages = (space: SearchSpace) => space.stages.filter((s) => s.block.type === 'moe');

  function expertLoads(space: SearchSpace, step: number, rng: ReturnType<typeof createRng>): ExpertLoad[] {
    return moeStages(space).map((s, li) => {
      const b = s.block as Extract<SearchSpace['stages'][number]['block'], { type: 'moe' }>;
      const names = [
        ...Array.from({ length: b.experts * b.segments }, (_, i) => `e${i}`),
        ...Array.from({ length: b.nullExperts }, (_, i) => `null${i}`),
        ...Array.from({ length: b.zeroExperts }, (_, i) => `zero${i}`),
        ...Array.from({ length: b.copyExperts }, (_, i) => `copy${i}`),
        ...Array.from({ length: b.constantExperts }, (_, i) => `const${i}`),
      ];
      // Load drifts towards one expert on the second layer, to exercise the collapse alarm.
      const raw = names.map((_, i) => Math.exp(0.6 * Math.sin(step / 40 + i) + (li === 1 && i === 0 ? step / 150 : 0)) + 0.2 * rng.next());
      const sum = raw.reduce((a, c) => a + c, 0);
      const load = raw.map((v) => v / sum);
      const entropy = -load.reduce((a, p) => a + (p > 0 ? p * Math.log(p) : 0), 0);
      return {
        layer: `${s.id}.0`,
        load,
        expertNames: names,
        dropped: b.capacityFactor ? Math.max(0, 0.08 - step / 4000) : 0,
        entropy,
        auxLoss: 0.01 * names.length * load.reduce((a, p) => a + p * p, 0),
        // The routing's nominal FFN experts per token, from its descriptor (no list of modes here).
        meanActive: describeRouting(b.routing).ffnPerToken(b.routing, routingShape(b)),
        collapse: Math.max(...load) > 0.7,
      };
    });
  }

  function specialization(space: SearchSpace, classes: number, step: number): Specialization {
    const layers = moeStages(space).map((s, li) => {
      const e = (s.block as { experts: number }).experts;
      const names = Array.from({ length: e }, (_, i) => `e${i}`);
      const counts = Array.from({ length: classes }, (_, c) => names.map((_, j) => Math.round(50 * Math.exp(-(((c + li - j) % e) ** 2) / (1 + 400 / (step + 1))))));
      const coact = names.map((_, a) => names.map((_, b) => (a === b ? 100 : Math.round(100 / (1 + Math.abs(a - b) * 2)))));
      return { layer: `${s.id}.0`, expertNames: names, counts, coactivation: coact };
    });
    const size = 40;
    const rng = createRng(7);
    const experts = layers.map((l) =>
      Array.from({ length: size * size }, (_, i) => {
        const x = (i % size) / size - 0.5;
        const y = Math.floor(i / size) / size - 0.5;
        return Math.floor(((Math.atan2(y, x) + Math.PI) / (2 * Math.PI)) * l.expertNames.length) % l.expertNames.length;
      }),
    );
    const points = Array.from({ length: 200 }, (_, i): [number, number, number] => {
      const c = i % classes;
      const r = rng.next();
      const t = r * 3 + (c * 2 * Math.PI) / classes;
      return [r * Math.cos(t), r * Math.sin(t), c];
    });
    return {
      step,
      classNames: Array.from({ length: classes }, (_, c) => `class ${c}`),
      layers,
      plane: { xMin: -1, xMax: 1, yMin: -1, yMax: 1, size, experts, predicted: experts[0] ?? [], points },
    };
  }

  function tick(run: FakeRun, space: SearchSpace) {
    const rng = createRng(run.summary.step + 1);
    const points: MetricPoint[] = [];
    for (let k = 0; k < stepsPerTick && run.summary.step < run.summary.steps; k++) {
      const step = ++run.summary.step;
      const t = step / 60;
      const loss = 1.4 * Math.exp(-t) + 0.1 + 0.05 * rng.next();
      const p: MetricPoint = {
        step,
        time: (step * tickMs) / stepsPerTick / 1000,
        loss,
        accuracy: Math.min(1, 1 - loss / 1.6),
        stepMs: 4 + rng.next(),
        samplesPerSec: 9000 + 800 * rng.next(),
        etaSec: ((run.summary.steps - step) * tickMs) / stepsPerTick / 1000,
        ...(run.config.strategy !== 'plain' ? { archVector: encodeArch(space, sampleArch(space, rng)) } : {}),
        ...(moeStages(space).length ? { moe: expertLoads(space, step, rng) } : {}),
      };
      if (step % run.config.evalEvery === 0) {
        p.valLoss = loss * 1.08;
        p.valAccuracy = Math.min(1, 1 - p.valLoss / 1.6);
        run.summary.bestValAccuracy = Math.max(run.summary.bestValAccuracy ?? 0, p.valAccuracy);
      }
      points.push(p);
      if (step % 50 === 0 && moeStages(space).length) {
        const classes = 'classes' in run.config.data ? run.config.data.classes : 10;
        run.spec = specialization(space, classes, step);
        hub.emit('onRunEvent', { kind: 'specialization', runId: run.summary.id, data: run.spec });
      }
    }
    run.metrics.push(...points);
    const last = points.at(-1);
    if (last) {
      run.summary.lastLoss = last.loss;
      run.summary.lastAccuracy = last.accuracy;
      hub.emit('onRunEvent', { kind: 'metrics', runId: run.summary.id, points });
    }
    if (run.summary.step >= run.summary.steps) finish(run, 'completed');
  }

  function finish(run: FakeRun, status: RunSummary['status']) {
    if (run.timer) clearInterval(run.timer);
    run.timer = null;
    run.summary.status = status;
    hub.emit('onRunEvent', { kind: 'status', runId: run.summary.id, summary: { ...run.summary } });
  }

  function launch(run: FakeRun) {
    const space = validateSpace(run.config.space);
    if (!space.ok) throw new ProtocolError('invalid', 'bad space', space.issues);
    run.summary.status = 'running';
    hub.emit('onRunEvent', { kind: 'status', runId: run.summary.id, summary: { ...run.summary } });
    run.timer = setInterval(() => tick(run, space.space), tickMs);
  }

  function get(runId: string): FakeRun {
    const r = runs.get(runId);
    if (!r) throw new ProtocolError('not_found', `no run ${runId}`);
    return r;
  }

  const searchTimers = new Map<string, ReturnType<typeof setInterval>>();

  function runSearch(s: SearchSummary, space: SearchSpace) {
    const rng = createRng(s.config.seed);
    const total = s.config.population * s.config.generations;
    let gen = 0;
    const timer = setInterval(() => {
      const subs: EvaluatedSubnet[] = [];
      for (let i = 0; i < s.config.population; i++) {
        const arch = sampleArch(space, rng);
        const vector = encodeArch(space, arch);
        const size = vector.reduce((a, v) => a + v, 0) + rng.next() * 2;
        const latencyMs = 0.2 + size * 0.15 + rng.next() * 0.1;
        subs.push({
          id: s.evaluated.length + i,
          arch,
          vector,
          ...accuracyEstimate('val', Math.min(0.99, 0.55 + 0.4 * (1 - Math.exp(-size / 4)) + (gen * 0.02) + rng.next() * 0.05), 5000),
          latencyMs,
          latencyLutMs: latencyMs * (1 + (rng.next() - 0.5) * 0.1),
          params: Math.round(2000 * (1 + size) ** 1.5),
          flops: Math.round(5000 * (1 + size) ** 1.6),
          generation: gen,
          feasible: !s.config.constraints.some((c) => c.objective === 'latency' && latencyMs > c.max),
        });
      }
      s.evaluated.push(...subs);
      s.front = s.evaluated
        .filter((a) => a.feasible && !s.evaluated.some((b) => b.feasible && b !== a && b.accuracy >= a.accuracy && b.latencyMs <= a.latencyMs && (b.accuracy > a.accuracy || b.latencyMs < a.latencyMs)))
        .map((a) => a.id);
      s.hypervolume.push({ generation: gen, value: s.front.length * 0.1 + gen * 0.05 });
      gen++;
      hub.emit('onSearchEvent', { kind: 'evaluated', searchId: s.id, subnets: subs });
      hub.emit('onSearchEvent', { kind: 'progress', searchId: s.id, done: s.evaluated.length, total, etaSec: (s.config.generations - gen) * 0.3 });
      if (gen >= s.config.generations) {
        clearInterval(timer);
        s.status = 'completed';
        s.lutErrorPct = 4.2;
        s.latencyModel = { mapePct: 3.1, tau: 0.87, n: 16, fitN: 74, passed: true, maxMapePct: 10, minTau: 0.8, fromCache: false };
      }
      hub.emit('onSearchEvent', { kind: 'summary', searchId: s.id, summary: structuredClone(s) });
    }, 300);
    searchTimers.set(s.id, timer);
  }

  const handlers: Handlers = {
    'host.hello': async () => ({ protocol: PROTOCOL_VERSION, version: '0.0.0-fake', backend: BACKEND, runsDir: '/tmp/fake-runs' }),
    'space.examples': async () => listExampleSpaces(),
    'space.validate': async ({ space }) => {
      const r = validateSpace(space);
      return r.ok
        ? { ok: true, issues: [], cardinality: cardinality(r.space), params: supernetParams(r.space) }
        : { ok: false, issues: r.issues, cardinality: null, params: null };
    },
    'runs.list': async () => [...runs.values()].map((r) => ({ ...r.summary })),
    'runs.get': async ({ runId, offset, limit }) => {
      const r = get(runId);
      // paged like the real core (protocol runs.get)
      return {
        record: { summary: { ...r.summary }, config: r.config, backend: BACKEND },
        metrics: r.metrics.slice(offset, offset + limit),
        specialization: r.spec,
        total: r.metrics.length,
        nextOffset: offset + limit < r.metrics.length ? offset + limit : null,
      };
    },
    'runs.update': async ({ runId, name, tags }) => {
      const r = get(runId);
      if (name !== undefined) r.summary.name = name;
      if (tags !== undefined) r.summary.tags = tags;
      hub.emit('onRunEvent', { kind: 'status', runId, summary: { ...r.summary } });
      return { ...r.summary };
    },
    'runs.delete': async ({ runId }) => {
      const r = get(runId);
      if (r.timer) throw new ProtocolError('busy', `run "${runId}" is training: stop it first`);
      runs.delete(runId);
      hub.emit('onRunEvent', { kind: 'removed', runId });
      return { deleted: true };
    },
    'train.start': async (config) => {
      const id = `run-${++n}`;
      const run: FakeRun = {
        summary: {
          id,
          name: config.name ?? `${config.space.name} · ${config.data.kind} #${n}`,
          createdAt: new Date().toISOString(),
          status: 'queued',
          strategy: config.strategy,
          step: 0,
          steps: config.steps,
          backend: BACKEND.name,
          device: BACKEND.device,
          spaceName: config.space.name,
          dataKind: config.data.kind,
          lastLoss: null,
          lastAccuracy: null,
          bestValAccuracy: null,
        },
        config,
        metrics: [],
        spec: null,
        timer: null,
      };
      runs.set(id, run);
      launch(run);
      return { runId: id };
    },
    'train.stop': async ({ runId }) => {
      const r = get(runId);
      if (!r.timer) return { stopped: false };
      finish(r, 'stopped');
      return { stopped: true };
    },
    'train.resume': async ({ runId }) => {
      launch(get(runId));
      return { runId };
    },
    'search.start': async (config) => {
      const run = get(config.runId);
      const v = validateSpace(run.config.space);
      if (!v.ok) throw new ProtocolError('failed', 'run has a bad space');
      // Like the real SearchManager: one hypervolume scale per run (runScale.ts).
      const runScale: Record<string, number> = { latency: 2, params: 1e5, flops: 1e6 };
      const costs = config.objectives.filter((o) => o !== 'accuracy');
      const hvScale = { scales: Object.fromEntries(costs.map((o) => [o, runScale[o]!])), ref: Object.fromEntries(config.objectives.map((o) => [o, o === 'accuracy' ? 1 : 1.1])) };
      const s: SearchSummary = { id: `search-${++n}`, runId: run.summary.id, status: 'running', config, evaluated: [], front: [], hypervolume: [], hvScale };
      searches.set(s.id, s);
      runSearch(s, v.space);
      return { searchId: s.id };
    },
    'search.cancel': async ({ searchId }) => {
      const s = searches.get(searchId);
      if (!s || s.status !== 'running') return { cancelled: false };
      // like the real SearchManager: it keeps what it evaluated, with status 'stopped'
      clearInterval(searchTimers.get(searchId));
      s.status = 'stopped';
      hub.emit('onSearchEvent', { kind: 'summary', searchId: s.id, summary: structuredClone(s) });
      return { cancelled: true };
    },
    // newest first, like the real SearchManager
    'search.list': async ({ runId }) => [...searches.values()].filter((s) => s.runId === runId).reverse(),
    // Ranking quality: finishes at once with made-up figures (the real job trains for minutes).
    'rank.start': async (cfg) => {
      const run = get(cfg.runId);
      const rng = createRng(cfg.seed);
      const now = new Date().toISOString();
      const est = (accuracy: number) => ({ split: 'val' as const, accuracy, n: 6000, ci95: [accuracy - 0.01, accuracy + 0.01] as [number, number] });
      const subnets = Array.from({ length: cfg.subnets }, (_, i) => {
        const arch = sampleArch(run.config.space, rng);
        const standalone = Array.from({ length: cfg.seeds }, (_, r) => ({ ...est(0.8 + 0.01 * i + 0.01 * rng.next()), seed: cfg.seed + r + 1, trainSec: 30 }));
        return {
          arch,
          vector: encodeArch(run.config.space, arch),
          params: 50_000 + 20_000 * i,
          flops: 100_000 + 40_000 * i,
          inherited: est(0.78 + 0.012 * i * rng.next()),
          standalone,
          standaloneMean: standalone.reduce((a, x) => a + x.accuracy, 0) / standalone.length,
        };
      });
      rankings.set(cfg.runId, {
        runId: cfg.runId, status: 'completed', config: cfg, createdAt: now, updatedAt: now, backend: 'cpu', device: BACKEND.device, supernetStep: run.summary.step,
        subnets, kendallTau: 0.6, spearmanRho: 0.77, seedTaus: [0.73], seedTau: 0.73, progress: { done: cfg.subnets * cfg.seeds, total: cfg.subnets * cfg.seeds, etaSec: 0 },
      });
      return { runId: cfg.runId };
    },
    'rank.get': async ({ runId }) => (get(runId), rankings.get(runId) ?? null),
    'rank.cancel': async () => ({ cancelled: false }),
    'export.subnet': async (req) => {
      const dir = `/tmp/fake-runs/${req.runId}/exports/${req.name ?? Date.now()}`;
      return { dir, files: req.formats.map((f) => `${dir}/${f === 'tfjs' ? 'model.json' : f === 'onnx' ? 'model.onnx' : 'arch.json'}`), maxAbsDiff: 3.1e-7 };
    },
    'compress.run': async (req) => {
      get(req.runId);
      const dir = `/tmp/fake-runs/${req.runId}/compress/${req.name ?? Date.now()}`;
      const acc = (a: number) => [{ split: 'val' as const, accuracy: a, n: 1488, ci95: [a - 0.02, a + 0.02] as [number, number] }];
      // Each MoE layer's report as the real methods give it: bits per expert (quantisers), the similarity matrix
      // and groups (merging / pruning), the singular-value spectrum (low-rank steps).
      const space = get(req.runId).config.space;
      const layers = (method: (typeof req.methods)[number] | null) =>
        method === null
          ? []
          : moeStages(space).map((s) => {
              const e = (s.block as { experts: number }).experts;
              const half = Math.max(1, Math.floor(e / 2));
              return {
                layer: `${s.id}.b0`,
                expertsBefore: e,
                expertsAfter: ['quantize', 'd2moe', 'eaquant', 'slimmoe'].includes(method) ? e : half,
                ...(['quantize', 'eaquant'].includes(method) ? { bitsPerExpert: Array.from({ length: e }, () => 4) } : {}),
                ...(method === 'd2moe' ? { bitsPerExpert: Array.from({ length: e }, (_, i) => (i < half ? 8 : 2)) } : {}),
                ...(['mc-smoe', 'sub-moe', 'stun'].includes(method)
                  ? { groups: Array.from({ length: half }, (_, g) => [2 * g, 2 * g + 1].filter((i) => i < e)), similarity: Array.from({ length: e }, (_, i) => Array.from({ length: e }, (_, j) => (i === j ? 1 : 1 / (1 + Math.abs(i - j))))) }
                  : {}),
                ...(['mc-smoe', 'sub-moe'].includes(method) ? { spectrum: Array.from({ length: 16 }, (_, i) => 10 / (i + 1)) } : {}),
              };
            });
      const point = (method: (typeof req.methods)[number] | null, level: Record<string, number>, a: number, params: number, bits: number) => ({
        method, level, accuracy: acc(a), params, bits, latencyMs: 0.2, layers: layers(method),
        onnx: { file: `/tmp/fake-runs/${req.runId}/exports/compress-${req.name ?? 'fake'}-${method ?? 'uncompressed'}/model.onnx`, maxAbsDiff: 4.8e-6 },
      });
      const result = {
        runId: req.runId, arch: req.arch, dir, date: new Date().toISOString(), calibration: { split: 'val' as const, n: req.calibSamples },
        points: [point(null, {}, 0.85, 300000, 9600000), ...req.methods.map((m, i) => point(m, { keep: 0.5 }, 0.83 - 0.01 * i, 200000, 6400000 / (i + 1)))],
      };
      compressions.set(req.runId, [result, ...(compressions.get(req.runId) ?? [])]);
      return result;
    },
    'compress.list': async ({ runId }) => (get(runId), compressions.get(runId) ?? []),
    // Token views: a fixed English text routed by character code (expert (c + l) mod E, the next one second), so
    // the e2e can check the colouring and the hover gates by hand.
    'run.tokenRouting': async (req) => {
      get(req.runId);
      const E = 4;
      const texts = ['Never trust a computer you', "can't throw out a window."];
      const route = (c: number, t: number, l: number) => {
        const g = 0.55 + (0.4 * ((c * 7 + t) % 10)) / 10;
        return { experts: [(c + l) % E, (c + l + 1) % E], gates: [g, 1 - g] };
      };
      return {
        runId: req.runId, arch: req.arch, split: 'val' as const, tokenKind: 'character' as const,
        layers: ['t.b0', 't.b1'].map((layer) => ({ layer, expertNames: Array.from({ length: E }, (_, i) => `e${i}`) })),
        sequences: texts.slice(0, req.samples).map((text, i) => ({
          sample: (req.offset ?? 0) + i, group: null,
          tokens: [...text].map((ch, t) => ({ id: ch.charCodeAt(0), text: ch, layers: [0, 1].map((l) => route(ch.charCodeAt(0), t, l)) })),
        })),
      };
    },
    'run.generate': async (req) => {
      get(req.runId);
      const text = req.temperature === 0 ? ' and the rest is silence.' : ' and then, at random, a fox.';
      return { prompt: req.prompt, text: text.slice(0, req.maxNewTokens), tokens: [...text.slice(0, req.maxNewTokens)].map((c) => c.charCodeAt(0) % 64), unknownChars: [] };
    },
  };

  return {
    handlers,
    hub,
    runsDir: '/tmp/fake-runs',
    async close() {
      for (const r of runs.values()) if (r.timer) clearInterval(r.timer);
    },
  };
}
