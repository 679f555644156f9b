/**
 * The job queue end to end against a real redis-server: the host side as `switchyard serve --redis`
 * builds it (createCore → RunManager with job-backed children), `switchyard worker` processes, and a
 * ranking whose standalone trainings are jobs. One worker is SIGKILLed with its training child
 * mid-run; the run must finish on the other worker from its last checkpoint with every metric step
 * exactly once, and every job must complete exactly once.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { QueueEvents } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCore, type Core } from '../host/createCore.js';
import { TrainConfig, type RunEvent, type RunSummary } from '../protocol/protocol.js';
import { rankRun } from '../search/rankRun.js';
import { RunStore } from '../train/RunStore.js';
import { connectJobQueue, type JobQueue } from './JobQueue.js';
import { connectRedis, jobIdFor, QUEUE_NAME } from './jobs.js';
import { queuedStandaloneTrainer, standaloneRunId } from './queueRank.js';
import { redisServerMissing, startRedis, startWorkerProcess, type TestRedis, type TestWorker } from './testRedis.js';

const missing = redisServerMissing();
if (missing) console.warn(`core/queue/queue.test.ts: ${missing}`);

const space = JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', 'assets', 'spaces', 'spirals-moe.json'), 'utf8'));
const STEPS = 80;

function metricSteps(runsDir: string, runId: string): number[] {
  return readFileSync(join(runsDir, runId, 'metrics.jsonl'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => (JSON.parse(l) as { step: number }).step);
}

const until = async (what: string, cond: () => boolean | Promise<boolean>, ms = 120_000) => {
  const t0 = Date.now();
  while (!(await cond())) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
};

describe.skipIf(missing !== null)('job queue on redis-server (BullMQ workers)', () => {
  let redis: TestRedis;
  let runsDir: string;
  let core: Core;
  let jobs: JobQueue;
  let watch: QueueEvents;
  const workers: TestWorker[] = [];
  const completed = new Map<string, number>();
  const events: RunEvent[] = [];

  beforeAll(async () => {
    redis = await startRedis();
    runsDir = mkdtempSync(join(tmpdir(), 'sw-queue-'));
    watch = new QueueEvents(QUEUE_NAME, { connection: connectRedis(redis.url) });
    watch.on('completed', ({ jobId }) => completed.set(jobId, (completed.get(jobId) ?? 0) + 1));
    await watch.waitUntilReady();
    core = await createCore({ runsDir, redis: redis.url, backend: 'cpu', activationBudgetBytes: 1 << 30 });
    core.hub.subscribe('onRunEvent', {}, (e) => events.push(e));
    jobs = await connectJobQueue({ redisUrl: redis.url, runsDir });
    workers.push(startWorkerProcess({ redisUrl: redis.url, runsDir, name: 'w-a' }), startWorkerProcess({ redisUrl: redis.url, runsDir, name: 'w-b' }));
  }, 60_000);

  afterAll(async () => {
    await Promise.allSettled(workers.map((w) => w.stop()));
    await core?.close();
    await jobs?.close();
    await watch?.close();
    await redis?.stop();
  }, 60_000);

  it('a run survives its worker being SIGKILLed: resumed from its checkpoint on the other worker, each metric step once, one completion', async () => {
    const { runId } = await core.handlers['train.start'](
      TrainConfig.parse({ space, data: { kind: 'spirals', classes: 4, samples: 1200, noise: 0.2, seed: 1 }, steps: STEPS, batchSize: 32, checkpointEvery: 10, evalEvery: 50, backend: 'cpu' }),
      { signal: new AbortController().signal } as never,
    );
    const statusOf = () => events.filter((e): e is Extract<RunEvent, { kind: 'status' }> => e.kind === 'status' && e.runId === runId).map((e) => e.summary);
    const lastStep = () => Math.max(0, ...events.flatMap((e) => (e.kind === 'metrics' && e.runId === runId ? e.points.map((p) => p.step) : [])));
    // Mid-job: past two checkpoints, well before the end.
    await until('the run to pass step 35 on a worker', () => lastStep() >= 35);
    const first = statusOf().find((s) => s.status === 'running')!;
    expect(first.worker).toMatch(/^w-[ab]$/);
    const victim = workers.find((w) => w.name === first.worker)!;
    const killedAt = lastStep();
    await victim.killHard();
    const survivor = workers.find((w) => w !== victim)!;

    const listed = async () => (await core.handlers['runs.list'](undefined as never, {} as never)).find((s) => s.id === runId);
    await until('the run to complete', async () => (await listed())?.status === 'completed');
    const rec = (await new RunStore(runsDir).readRecord(runId)).summary as RunSummary;
    expect(rec.worker).toBe(survivor.name);
    expect(rec.jobId).toBe(jobIdFor(runId, (await new RunStore(runsDir).readRecord(runId)).config));
    // Resumed from a checkpoint the killed attempt wrote, not from scratch: the host had seen step
    // `killedAt`, and the child logs step s only after the checkpoint before s is on disk.
    const resumed = events.find((e) => e.kind === 'log' && e.runId === runId && /^resuming from step/.test(e.message));
    const from = Number(/(\d+)/.exec(resumed && resumed.kind === 'log' ? resumed.message : '')?.[1]);
    expect(from).toBeGreaterThanOrEqual(Math.floor((killedAt - 1) / 10) * 10);
    expect(from).toBeLessThan(STEPS);
    expect(from % 10).toBe(0);
    // Every step exactly once, in order: nothing the killed attempt logged after its checkpoint survives twice.
    expect(metricSteps(runsDir, runId)).toEqual(Array.from({ length: STEPS }, (_, i) => i + 1));
    // The host heard the run through QueueEvents: the worker's name, metrics, the final status.
    expect(statusOf().some((s) => s.worker === survivor.name && s.status === 'running')).toBe(true);
    expect(statusOf().at(-1)?.status).toBe('completed');
    await until('the completed event', () => completed.has(rec.jobId!), 10_000);
    expect(completed.get(rec.jobId!)).toBe(1);
  }, 180_000);

  it('a ranking of 4 subnets trains each standalone subnet as one job on the workers; queueing one again trains nothing', async () => {
    const runId = (await new RunStore(runsDir).list()).find((s) => s.status === 'completed' && !s.id.startsWith('rank-'))!.id;
    // Two workers again: a replacement for the one killed above.
    workers.push(startWorkerProcess({ redisUrl: redis.url, runsDir, name: 'w-c' }));
    const trainer = queuedStandaloneTrainer(jobs, runsDir, runId);
    const report = await rankRun({ runId, subnets: 4, steps: 20, seeds: 1, evalSamples: 200 }, { runsDir, backend: 'cpu', standalone: trainer });
    expect(report.status).toBe('completed');
    expect(report.subnets).toHaveLength(4);
    const store = new RunStore(runsDir);
    const rankRuns = report.subnets.map((s) => standaloneRunId(runId, { arch: s.arch, seed: 2, steps: 20 }));
    expect(new Set(rankRuns).size).toBe(4);
    for (const [i, id] of rankRuns.entries()) {
      expect(report.subnets[i]!.standalone).toHaveLength(1);
      const rec = await store.readRecord(id);
      expect(rec.summary.status).toBe('completed');
      expect(rec.config.arch).toEqual(report.subnets[i]!.arch);
      expect(metricSteps(runsDir, id)).toEqual(Array.from({ length: 20 }, (_, k) => k + 1));
      await until('the completed event', () => completed.has(rec.summary.jobId!), 10_000);
      expect(completed.get(rec.summary.jobId!)).toBe(1);
    }
    // Idempotent: the same subnet and seed again is the same job, already done — no second training.
    const again = await jobs.runToCompletion(rankRuns[0]!);
    expect(again.status).toBe('completed');
    await new Promise((r) => setTimeout(r, 500));
    const jobId = (await store.readRecord(rankRuns[0]!)).summary.jobId!;
    expect(completed.get(jobId)).toBe(1);
    expect(metricSteps(runsDir, rankRuns[0]!)).toHaveLength(20);
  }, 180_000);
});
