/**
 * `switchyard rank <runId|runDir> [--subnets N] [--steps S] [--seeds R]`: ranking quality of a run's
 * supernet (see rankRun.ts) in this process, with a progress line (ETA), a table of the subnets and
 * Kendall τ / Spearman ρ with the seed-to-seed noise floor. The report is stored as <run>/rank.json.
 */
import { z } from 'zod';
import { formatAccuracy } from '../protocol/accuracyInterval.js';
import { BackendChoice, ProtocolError, type RankReport } from '../protocol/protocol.js';
import { selectBackend } from '../nn/backend.js';
import { describeArch } from '../space/archCodec.js';
import type { SearchSpace } from '../space/SearchSpace.js';
import { defaultRunsDir, RunStore } from '../train/RunStore.js';
import { rankFile, rankRun, type StandaloneTrainer } from './rankRun.js';
import { formatCount, formatSeconds, formatTable, parseRunCommand } from './searchCli.js';

const RANK_USAGE = `Usage: switchyard rank <runId|runDir> [flags]
  --subnets N       subnets spread over the space by parameter count, smallest and largest included (default 6)
  --steps S         standalone training steps per subnet and seed, from scratch (default 300)
  --seeds R         standalone trainings per subnet; R ≥ 2 gives the seed-to-seed noise floor (default 2)
  --eval-samples N  validation samples per score (default: the whole validation split)
  --seed N          seed of the subnet choice; standalone seeds are seed+1 … seed+R (default 1)
  --backend B       auto | tensorflow | webgpu | wasm | cpu (default auto)
  --runs-dir DIR    where runs are stored (default ${defaultRunsDir()})
  --json            print the final report as JSON and no progress`;

const num = z.coerce.number();
const RankFlags = z
  .object({
    subnets: num.int().min(3).max(200).optional(),
    steps: num.int().min(1).optional(),
    seeds: num.int().min(1).max(10).optional(),
    'eval-samples': num.int().min(0).optional(),
    seed: num.int().optional(),
    backend: BackendChoice.optional(),
    'runs-dir': z.string().optional(),
    json: z.literal(true).optional(),
    help: z.literal(true).optional(),
  })
  .strict();

const fmtFig = (v: number | null) => (v === null ? 'n/a' : v.toFixed(3));

/** The subnets as an aligned table, smallest first, and the rank figures under it. */
export function formatRankReport(r: RankReport, space: SearchSpace | null): string {
  const seeds = [...new Set(r.subnets.flatMap((s) => s.standalone.map((x) => x.seed)))].sort((a, b) => a - b);
  const n = r.subnets[0]?.inherited.n ?? 0;
  const header = ['params', 'FLOPs', `inherited (val, n=${n})`, ...seeds.map((s) => `seed ${s}`), 'standalone mean', 'arch'];
  const pct = (v: number) => `${(v * 100).toFixed(2)}%`;
  const half = (ci: readonly [number, number]) => `± ${(((ci[1] - ci[0]) / 2) * 100).toFixed(2)}`;
  const body = r.subnets.map((s) => [
    formatCount(s.params),
    formatCount(s.flops),
    `${pct(s.inherited.accuracy)} ${half(s.inherited.ci95)}`,
    ...seeds.map((seed) => {
      const x = s.standalone.find((e) => e.seed === seed);
      return x ? pct(x.accuracy) : '-';
    }),
    s.standaloneMean === null ? '-' : pct(s.standaloneMean),
    space ? describeArch(space, s.arch) : s.vector.join(','),
  ]);
  const table = formatTable(header, body);
  const trained = r.subnets.filter((s) => s.standaloneMean !== null).length;
  return [
    table,
    '',
    `inherited vs standalone (${trained} subnets, ${r.config.steps} steps × ${seeds.length} seed${seeds.length === 1 ? '' : 's'}): Kendall τ-b ${fmtFig(r.kendallTau)}, Spearman ρ ${fmtFig(r.spearmanRho)}`,
    `noise floor (τ-b between seeds' standalone accuracies${r.seedTaus.length > 1 ? `, mean of ${r.seedTaus.length} pairs` : ''}): ${fmtFig(r.seedTau)}`,
  ].join('\n');
}

export interface RankCommandSeams {
  /** Trains the standalone subnets elsewhere (`--queue`: core/queue/queueCli.ts); default: here. */
  standalone?: (runsDir: string, runId: string) => StandaloneTrainer;
}

export async function runRankCommand(argv: string[], seams: RankCommandSeams = {}): Promise<number> {
  const parsed = parseRunCommand(argv, RankFlags, RANK_USAGE);
  if (typeof parsed === 'number') return parsed;
  const { flags: f, runsDir, runId } = parsed;
  const record = await new RunStore(runsDir).readRecord(runId).catch(() => {
    throw new ProtocolError('not_found', `run "${runId}" not found in ${runsDir}`);
  });
  const backend = await selectBackend(f.backend ?? 'auto');
  const out = process.stderr;
  if (!f.json) out.write(`ranking run ${runId} (${record.config.space.name}) on ${backend.device}\n`);
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once('SIGINT', onSignal);
  let report: RankReport;
  try {
    report = await rankRun(
      {
        runId,
        ...(f.subnets ? { subnets: f.subnets } : {}),
        ...(f.steps ? { steps: f.steps } : {}),
        ...(f.seeds ? { seeds: f.seeds } : {}),
        ...(f['eval-samples'] !== undefined ? { evalSamples: f['eval-samples'] } : {}),
        ...(f.seed !== undefined ? { seed: f.seed } : {}),
      },
      {
        runsDir,
        backend: backend.name,
        signal: stop.signal,
        standalone: seams.standalone?.(runsDir, runId),
        onProgress: (r) => {
          if (f.json || r.status !== 'running') return;
          const p = r.progress;
          // Seed-major order: the latest training is the last subnet holding the highest seed so far.
          const top = Math.max(...r.subnets.flatMap((s) => s.standalone.map((x) => x.seed)));
          const last = r.subnets.flatMap((s) => s.standalone.filter((x) => x.seed === top).map((x) => ({ s, x }))).at(-1);
          const what = p.done === 0 ? `inherited scores of ${r.subnets.length} subnets done` : `trained ${p.done}/${p.total}`;
          const detail = last && p.done > 0 ? ` (${formatCount(last.s.params)} params, seed ${last.x.seed}: ${formatAccuracy(last.x)}, ${last.x.trainSec.toFixed(0)}s)` : '';
          out.write(`${what}${detail}  τ ${fmtFig(r.kendallTau)}  ETA ${p.done === 0 ? '?' : formatSeconds(p.etaSec)}\n`);
        },
      },
    );
  } finally {
    process.off('SIGINT', onSignal);
  }
  if (f.json) console.log(JSON.stringify(report));
  else {
    console.log(`\nrank ${runId}: ${report.status}`);
    if (report.error) console.log(`error: ${report.error}`);
    console.log(formatRankReport(report, record.config.space));
    console.log(`saved to ${rankFile(runsDir, runId)}`);
  }
  return report.status === 'completed' ? 0 : report.status === 'stopped' ? 130 : 1;
}
