/**
 * `switchyard search <runId|runDir> [flags]`: a multi-objective subnet search over a trained run, in
 * this process, with a progress line (ETA) and the Pareto front printed as a table at the end. The
 * search is stored under the run's folder like one started from the app.
 */
import { existsSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { z } from 'zod';
import { parseFlags } from '../protocol/cliFlags.js';
import { EventHub } from '../protocol/EventHub.js';
import { selectBackend } from '../nn/backend.js';
import { BackendChoice, Objective, parseOrThrow, ProtocolError, type EvaluatedSubnet, type SearchConfigInput, type SearchSummary } from '../protocol/protocol.js';
import { SEARCH_STRATEGY_NAMES } from '../protocol/strategyNames.js';
import { describeArch } from '../space/archCodec.js';
import type { SearchSpace } from '../space/SearchSpace.js';
import { defaultRunsDir, RunStore } from '../train/RunStore.js';
import { SearchManager } from './SearchManager.js';

const SEARCH_USAGE = `Usage: switchyard search <runId|runDir> [flags]
  --strategy S          ${SEARCH_STRATEGY_NAMES.join(' | ')} (default nsga2)
  --objectives A,B[,C]  from accuracy, latency, params, flops, bits (size as stored); accuracy is maximised (default accuracy,latency)
  --population N        subnets per generation (default 16)
  --generations N       generations after the first (default 5)
  --max-latency MS      constraint: latency ≤ MS milliseconds
  --max-params N        constraint: parameters ≤ N
  --max-flops N         constraint: FLOPs ≤ N
  --max-bits N          constraint: size as stored ≤ N bits
  --eval-samples N      validation samples scored per subnet (default 5000, capped at the split's size)
  --seed N              random seed (default 1)
  --backend B           auto | tensorflow | webgpu | wasm | cpu (default auto)
  --runs-dir DIR        where runs are stored (default ${defaultRunsDir()})
  --json                print the final SearchSummary as JSON and no progress`;

const num = z.coerce.number();
const SearchFlags = z
  .object({
    strategy: z.enum(SEARCH_STRATEGY_NAMES).optional(),
    objectives: z.string().optional(),
    population: num.int().min(4).max(1000).optional(),
    generations: num.int().min(1).max(1000).optional(),
    'max-latency': num.gt(0).optional(),
    'max-params': num.gt(0).optional(),
    'max-flops': num.gt(0).optional(),
    'max-bits': num.gt(0).optional(),
    'eval-samples': num.int().min(32).optional(),
    seed: num.int().optional(),
    backend: BackendChoice.optional(),
    'runs-dir': z.string().optional(),
    json: z.literal(true).optional(),
    help: z.literal(true).optional(),
  })
  .strict();

/** `<runId>` or a run folder (one holding run.json) → runs folder + id. */
export function resolveRun(arg: string, runsDirFlag: string | undefined): { runsDir: string; runId: string } {
  if ((arg.includes('/') || arg.includes('\\') || arg === '.') && existsSync(join(arg, 'run.json'))) {
    const abs = resolve(arg);
    return { runsDir: dirname(abs), runId: basename(abs) };
  }
  return { runsDir: runsDirFlag ?? defaultRunsDir(), runId: arg };
}

export function formatCount(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)}G`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}k`;
  return String(n);
}

export function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return '?';
  if (s < 60) return `${s.toFixed(0)}s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m}m${String(Math.round(s % 60)).padStart(2, '0')}s` : `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

/** The latency table's held-out check, one line. */
export function formatLatencyModel(m: NonNullable<SearchSummary['latencyModel']>): string {
  const f = (v: number | null, d: number) => (v === null ? 'n/a' : v.toFixed(d));
  return (
    `latency model (${m.fromCache ? 'stored table' : 'fitted now'}): held-out MAPE ${f(m.mapePct, 1)} %, Kendall τ ${f(m.tau, 2)} ` +
    `over ${m.n} subnets (fitted on ${m.fitN}); ${m.passed ? 'passes' : 'FAILS'} its check (≤ ${m.maxMapePct} %, τ ≥ ${m.minTau})` +
    (m.passed ? '' : ', so it was not stored')
  );
}

/** The front as an aligned text table, best accuracy first. */
export function formatFrontTable(summary: SearchSummary, space: SearchSpace | null): string {
  const rows: EvaluatedSubnet[] = summary.front.map((id) => summary.evaluated.find((r) => r.id === id)!).filter(Boolean);
  rows.sort((a, b) => b.accuracy - a.accuracy);
  // Accuracy with its 95 % Wilson interval's half-width; the split and sample count head the column.
  const n = rows.find((r) => r.n !== undefined);
  const header = ['id', 'gen', n ? `accuracy (${n.split ?? 'val'}, n=${n.n})` : 'accuracy', 'latency ms', 'LUT ms', 'params', 'FLOPs', 'KiB', 'arch'];
  const body = rows.map((r) => [
    String(r.id),
    String(r.generation),
    r.ci95 ? `${(r.accuracy * 100).toFixed(2)}% ± ${(((r.ci95[1] - r.ci95[0]) / 2) * 100).toFixed(2)}` : `${(r.accuracy * 100).toFixed(2)}%`,
    r.latencyMs.toFixed(3),
    r.latencyLutMs !== undefined ? r.latencyLutMs.toFixed(3) : '-',
    formatCount(r.params),
    formatCount(r.flops),
    // Size as stored (the bits objective; weights at their blocks' bits choice).
    r.bits !== undefined ? (r.bits / 8192).toFixed(1) : '-',
    space ? describeArch(space, r.arch) : r.vector.join(','),
  ]);
  return formatTable(header, body);
}

/** Rows under a header as an aligned text table (the last column left ragged). */
export function formatTable(header: readonly string[], body: readonly string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]!.length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}

/**
 * The start every `<command> <runId|runDir> [flags]` shares: flags parsed by their schema, `--help`
 * or no run prints the usage (the exit code is returned instead), exactly one run.
 */
export function parseRunCommand<S extends z.ZodType<{ help?: true; 'runs-dir'?: string }>>(
  argv: string[],
  schema: S,
  usage: string,
): { flags: z.output<S>; runsDir: string; runId: string } | number {
  const { flags: raw, positionals } = parseFlags(argv, ['json', 'help']);
  const f = parseOrThrow(schema, raw, 'flags');
  if (f.help || positionals.length === 0) {
    console.log(usage);
    return f.help ? 0 : 2;
  }
  if (positionals.length > 1) throw new ProtocolError('invalid', `expected one run, got ${positionals.length} arguments`);
  return { flags: f, ...resolveRun(positionals[0]!, f['runs-dir']) };
}

export async function runSearchCommand(argv: string[]): Promise<number> {
  const parsed = parseRunCommand(argv, SearchFlags, SEARCH_USAGE);
  if (typeof parsed === 'number') return parsed;
  const { flags: f, runsDir, runId } = parsed;
  const objectives = f.objectives?.split(',').map((o, i) => parseOrThrow(Objective, o.trim(), `--objectives[${i}]`, ['--objectives', i]));
  const constraints = [
    ...(f['max-latency'] !== undefined ? [{ objective: 'latency' as const, max: f['max-latency'] }] : []),
    ...(f['max-params'] !== undefined ? [{ objective: 'params' as const, max: f['max-params'] }] : []),
    ...(f['max-flops'] !== undefined ? [{ objective: 'flops' as const, max: f['max-flops'] }] : []),
    ...(f['max-bits'] !== undefined ? [{ objective: 'bits' as const, max: f['max-bits'] }] : []),
  ];
  const cfg: SearchConfigInput = {
    runId,
    ...(f.strategy ? { strategy: f.strategy } : {}),
    ...(objectives ? { objectives } : {}),
    ...(f.population ? { population: f.population } : {}),
    ...(f.generations ? { generations: f.generations } : {}),
    ...(f['eval-samples'] ? { evalSamples: f['eval-samples'] } : {}),
    ...(f.seed !== undefined ? { seed: f.seed } : {}),
    constraints,
  };

  const store = new RunStore(runsDir);
  const record = await store.readRecord(runId).catch(() => {
    throw new ProtocolError('not_found', `run "${runId}" not found in ${runsDir}`);
  });
  const backend = await selectBackend(f.backend ?? 'auto');
  const hub = new EventHub();
  const manager = new SearchManager({ runsDir, hub, backend: backend.name });
  const out = process.stderr;
  let lastGeneration = -1;
  if (!f.json) {
    out.write(`searching run ${runId} (${record.config.space.name}) on ${backend.device}\n`);
    hub.subscribe('onSearchEvent', {}, (e) => {
      if (e.kind === 'progress') {
        const text = `evaluated ${e.done}/${e.total}  ETA ${formatSeconds(e.etaSec)}`;
        if (out.isTTY) out.write(`\r${text}\x1b[K`);
        else if (e.done === e.total || e.done % Math.max(1, Math.round(e.total / 10)) === 0) out.write(`${text}\n`);
      } else if (e.kind === 'summary' && e.summary.hypervolume.length > 0) {
        const h = e.summary.hypervolume.at(-1)!;
        // The final summary repeats the last generation's; print each generation once.
        if (h.generation === lastGeneration) return;
        lastGeneration = h.generation;
        const msg = `generation ${h.generation}: front ${e.summary.front.length}, hypervolume ${h.value.toFixed(4)}`;
        out.write(out.isTTY ? `\r${msg}\x1b[K\n` : `${msg}\n`);
      }
    });
  }
  const { searchId } = await manager.start(cfg);
  const onSignal = () => void manager.cancel(searchId);
  process.once('SIGINT', onSignal);
  let summary: SearchSummary;
  try {
    summary = await manager.wait(searchId);
  } finally {
    process.off('SIGINT', onSignal);
  }
  if (f.json) {
    console.log(JSON.stringify(summary));
  } else {
    console.log(`\nsearch ${searchId}: ${summary.status}, ${summary.evaluated.length} subnets evaluated${summary.lutErrorPct !== undefined ? `, latency-table error on them ${summary.lutErrorPct.toFixed(1)} %${summary.lutTau !== undefined ? ` (τ ${summary.lutTau.toFixed(2)})` : ''}` : ''}`);
    if (summary.error) console.log(`error: ${summary.error}`);
    for (const w of summary.warnings ?? []) console.log(`warning: ${w}`);
    if (summary.latencyModel) console.log(formatLatencyModel(summary.latencyModel));
    console.log(`Pareto front (${summary.config.objectives.join(' vs ')}${summary.config.constraints.length ? `; ${summary.config.constraints.map((c) => `${c.objective} ≤ ${c.max}`).join(', ')}` : ''}):`);
    console.log(formatFrontTable(summary, record.config.space));
    console.log(`saved to ${join(runsDir, runId, 'searches', `${searchId}.json`)}`);
  }
  return summary.status === 'completed' ? 0 : summary.status === 'stopped' ? 130 : 1;
}
