/**
 * How long a ranking takes with one job-queue worker and with two (issue 17): a throwaway
 * redis-server, a supernet of assets/spaces/spirals-moe.json trained here, then the same ranking
 * (same subnets, seeds and steps, a fresh copy of the runs folder each time) with its standalone
 * trainings as jobs on 1 and on 2 `switchyard worker` processes (one training each at a time).
 *
 *   node --import tsx bench/queueRank.ts [--subnets 4] [--steps 150] [--seeds 1] [--workers 1,2]
 *
 * Wall time from the first job queued to the report; worker start-up (tsx, tfjs) is left out (the
 * workers are up before the ranking starts), each job's child-process start is in.
 */
import { cpSync, mkdtempSync, readFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { connectJobQueue } from '../core/queue/JobQueue.js';
import { queuedStandaloneTrainer } from '../core/queue/queueRank.js';
import { startRedis, startWorkerProcess } from '../core/queue/testRedis.js';
import { createTestRun } from '../core/search/createTestRun.js';
import { rankRun } from '../core/search/rankRun.js';

const { values } = parseArgs({
  options: { subnets: { type: 'string', default: '4' }, steps: { type: 'string', default: '150' }, seeds: { type: 'string', default: '1' }, workers: { type: 'string', default: '1,2' } },
});
const space = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'assets', 'spaces', 'spirals-moe.json'), 'utf8'));
const base = mkdtempSync(join(tmpdir(), 'sw-bench-queue-'));
const seedDir = join(base, 'seed');
const runId = await createTestRun(seedDir, { space, data: { kind: 'spirals', classes: 4, samples: 2000, noise: 0.2, seed: 1 }, steps: 100, batchSize: 64, backend: 'cpu' }, { train: true });
const redis = await startRedis();
const rows: string[] = [];
try {
  for (const n of values.workers.split(',').map(Number)) {
    const runsDir = join(base, `w${n}`);
    cpSync(seedDir, runsDir, { recursive: true });
    const workers = Array.from({ length: n }, (_, i) => startWorkerProcess({ redisUrl: redis.url, runsDir, name: `bench-${n}-${i}`, lockMs: 30_000 }));
    // Up when each has printed its banner.
    while (!workers.every((w) => /switchyard worker/.test(w.log()))) await new Promise((r) => setTimeout(r, 100));
    const jobs = await connectJobQueue({ redisUrl: redis.url, runsDir });
    const t0 = performance.now();
    const report = await rankRun(
      { runId, subnets: Number(values.subnets), steps: Number(values.steps), seeds: Number(values.seeds), evalSamples: 200 },
      { runsDir, backend: 'cpu', standalone: queuedStandaloneTrainer(jobs, runsDir, runId) },
    );
    const sec = (performance.now() - t0) / 1000;
    const perWorker = new Map<string, number>();
    for (const w of workers) perWorker.set(w.name, (w.log().match(/ completed at step/g) ?? []).length);
    rows.push(`${n} worker${n > 1 ? 's' : ' '}  ${sec.toFixed(1).padStart(6)} s  ${report.status}  jobs per worker ${[...perWorker.values()].join('/')}  τ ${report.kendallTau?.toFixed(3)}`);
    console.error(rows.at(-1));
    await jobs.close();
    await Promise.all(workers.map((w) => w.stop()));
  }
} finally {
  await redis.stop();
}
console.log(`ranking ${values.subnets} subnets × ${values.seeds} seed(s) × ${values.steps} steps, spirals-moe, cpu backend, ${cpus().length} cores, load ${loadavg()[0]!.toFixed(1)}`);
for (const r of rows) console.log(r);
