/**
 * The job queue's control paths against a real redis-server, with a worker in this process whose
 * training child is core/train/fakeTrainChild.mjs (it trains nothing, so these take seconds): stop
 * of a job nobody has taken, stop of an active job through its worker, resume after a stop, retries
 * of a crashing child until the job fails. The end-to-end training case is queue.test.ts.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventHub } from '../protocol/EventHub.js';
import { TrainConfig, type RunEvent } from '../protocol/protocol.js';
import { RunManager } from '../train/RunManager.js';
import { connectJobQueue, type JobQueue } from './JobQueue.js';
import { jobIdFor, parseRedisUrl } from './jobs.js';
import { freePort, redisServerMissing, startRedis, type TestRedis } from './testRedis.js';
import { startWorker, type RunningWorker } from './worker.js';

const space = JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', 'assets', 'spaces', 'spirals-moe.json'), 'utf8'));
const config = TrainConfig.parse({ space, data: { kind: 'spirals', classes: 4, samples: 400, noise: 0.2, seed: 1 }, steps: 10 });
const fakeChild = { path: join(import.meta.dirname, '..', 'train', 'fakeTrainChild.mjs'), execArgv: [] };

const until = async (what: string, cond: () => boolean | Promise<boolean>, ms = 30_000) => {
  const t0 = Date.now();
  while (!(await cond())) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
};

describe('job ids and URLs', () => {
  it('give one id per run, architecture and seed', () => {
    const a = jobIdFor('r1', { arch: undefined, seed: 1 });
    expect(jobIdFor('r1', { arch: undefined, seed: 1 })).toBe(a);
    expect(jobIdFor('r2', { arch: undefined, seed: 1 })).not.toBe(a);
    expect(jobIdFor('r1', { arch: undefined, seed: 2 })).not.toBe(a);
    expect(jobIdFor('r1', { arch: { stem: { depth: 1 } } as never, seed: 1 })).not.toBe(a);
    expect(a).not.toContain(':'); // BullMQ refuses ':' in custom ids
  });

  it('refuse a URL that is not redis:// or rediss://, naming the flag', () => {
    expect(parseRedisUrl('redis://10.0.0.5:6379')).toBe('redis://10.0.0.5:6379');
    expect(() => parseRedisUrl('http://10.0.0.5:6379', '--queue')).toThrow(/--queue: use redis:\/\//);
    expect(() => parseRedisUrl('10.0.0.5:6379')).toThrow(/--redis/);
  });

  it('fail at once, naming the URL, when nothing answers there (BullMQ alone would retry forever)', async () => {
    const url = `redis://127.0.0.1:${await freePort()}`;
    await expect(connectJobQueue({ redisUrl: url, runsDir: tmpdir() })).rejects.toThrow(new RegExp(`cannot reach Redis at ${url}: .*ECONNREFUSED`));
  });
});

const missing = redisServerMissing();
describe.skipIf(missing !== null)('job queue control paths (redis-server, fake training child)', () => {
  let redis: TestRedis;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis?.stop();
  });

  /** A runs folder, a queue of its own, a RunManager whose children are jobs, and optionally a worker. */
  async function setup(mode: string, opts: { worker?: boolean; attempts?: number } = {}) {
    const runsDir = mkdtempSync(join(tmpdir(), 'sw-jobq-'));
    writeFileSync(join(runsDir, 'fake-child.json'), JSON.stringify({ mode }));
    const queueName = `t-${Math.random().toString(36).slice(2)}`;
    const jobs = await connectJobQueue({ redisUrl: redis.url, runsDir, queueName, jobOptions: { attempts: opts.attempts ?? 5, backoff: { type: 'exponential', delay: 50 } } });
    const hub = new EventHub();
    const events: RunEvent[] = [];
    hub.subscribe('onRunEvent', {}, (e) => events.push(e));
    const runs = new RunManager({ runsDir, hub, spawnChild: jobs.spawnChild, ownedRemotely: jobs.hasLiveJob, maxConcurrent: 100, stopTimeoutMs: 10_000 });
    const logs: string[] = [];
    const worker: RunningWorker | null = opts.worker === false ? null : await startWorker({ redisUrl: redis.url, runsDir, queueName, name: 'w-test', entry: fakeChild, lockMs: 5000, log: (l) => logs.push(l) });
    const starts = () => (readFileSyncSafe(join(runsDir, 'fake-child.log')).match(/^start /gm) ?? []).length;
    const close = async () => {
      await worker?.close();
      await jobs.close();
      await runs.close();
    };
    return { runsDir, queueName, jobs, runs, events, logs, starts, worker, close };
  }

  it('stop of a job no worker has taken removes it from the queue; the new run is stopped', async () => {
    const t = await setup('wait', { worker: false });
    try {
      const { runId } = await t.runs.start(config);
      const jobId = jobIdFor(runId, config);
      await until('the job waiting', async () => (await t.jobs.queue.getJob(jobId)) !== undefined);
      expect(await (await t.jobs.queue.getJob(jobId))!.getState()).toBe('waiting');
      expect((await t.runs.list())[0]!.status).toBe('queued');
      expect(await t.runs.stop(runId)).toEqual({ stopped: true });
      expect(await t.jobs.queue.getJob(jobId)).toBeUndefined();
      expect((await t.runs.store.readRecord(runId)).summary.status).toBe('stopped');
    } finally {
      await t.close();
    }
  });

  it('a host that restarts leaves its queued jobs alone (not marked interrupted); a worker started later trains them', async () => {
    const t = await setup('exit-before-done', { worker: false });
    const { runId } = await t.runs.start(config);
    await until('the job waiting', async () => t.jobs.hasLiveJob(runId));
    await t.close(); // the host goes away (as createCore closes: the queue first, then the run manager)
    expect((await t.runs.store.readRecord(runId)).summary.status).toBe('queued');
    const jobs = await connectJobQueue({ redisUrl: redis.url, runsDir: t.runsDir, queueName: t.queueName });
    const runs = new RunManager({ runsDir: t.runsDir, spawnChild: jobs.spawnChild, ownedRemotely: jobs.hasLiveJob });
    const worker = await startWorker({ redisUrl: redis.url, runsDir: t.runsDir, queueName: t.queueName, name: 'late', entry: fakeChild, log: () => {} });
    try {
      expect((await runs.list()).find((s) => s.id === runId)?.status).toBe('queued');
      await until('the run completed by the late worker', async () => (await runs.store.readRecord(runId)).summary.status === 'completed');
      expect((await runs.store.readRecord(runId)).summary.worker).toBe('late');
    } finally {
      await worker.close();
      await jobs.close();
      await runs.close();
    }
  });

  it('stop of an active job reaches its worker; the job ends once, stopped, not retried; resume queues it again under the same id', async () => {
    const t = await setup('wait');
    try {
      const { runId } = await t.runs.start(config);
      const jobId = jobIdFor(runId, config);
      await until('the run running on the worker', () => t.events.some((e) => e.kind === 'status' && e.summary.status === 'running' && e.summary.worker === 'w-test'));
      await t.runs.stop(runId);
      const job = (await t.jobs.queue.getJob(jobId))!;
      expect(await job.getState()).toBe('completed');
      expect(job.returnvalue).toMatchObject({ runId, status: 'stopped', worker: 'w-test' });
      expect(t.starts()).toBe(1);
      const rec = (await t.runs.store.readRecord(runId)).summary;
      expect(rec).toMatchObject({ status: 'stopped', worker: 'w-test', jobId });

      await t.runs.resume(runId);
      await until('the resumed run running', () => t.starts() === 2);
      writeFileSync(join(t.runsDir, 'release'), '');
      await t.runs.whenExited(runId);
      await until('completed', async () => (await t.runs.store.readRecord(runId)).summary.status === 'completed');
      expect((await t.jobs.queue.getJob(jobId))!.returnvalue).toMatchObject({ status: 'completed' });
    } finally {
      await t.close();
    }
  });

  it('a worker shutting down hands its job on: the child stops (checkpoint), the attempt fails, another worker finishes the run', async () => {
    const t = await setup('wait');
    let other: RunningWorker | null = null;
    try {
      const { runId } = await t.runs.start(config);
      await until('the run running on the first worker', () => t.events.some((e) => e.kind === 'status' && e.summary.status === 'running' && e.summary.worker === 'w-test'));
      other = await startWorker({ redisUrl: redis.url, runsDir: t.runsDir, queueName: t.queueName, name: 'w-other', entry: fakeChild, lockMs: 5000, log: () => {} });
      await t.worker!.close();
      await until('the run running on the other worker', () => t.starts() === 2);
      writeFileSync(join(t.runsDir, 'release'), '');
      await t.runs.whenExited(runId);
      const rec = (await t.runs.store.readRecord(runId)).summary;
      expect(rec).toMatchObject({ status: 'completed', worker: 'w-other' });
      expect(t.logs.some((l) => /shut down .*continues from its checkpoint/.test(l))).toBe(true);
    } finally {
      await other?.close();
      await t.close();
    }
  });

  it('a worker that does not see the run (another runs folder) fails the job at once, saying so; no retries', async () => {
    const t = await setup('wait', { worker: false });
    const elsewhere = mkdtempSync(join(tmpdir(), 'sw-jobq-other-'));
    const logs: string[] = [];
    const w = await startWorker({ redisUrl: redis.url, runsDir: elsewhere, queueName: t.queueName, name: 'w-blind', entry: fakeChild, log: (l) => logs.push(l) });
    try {
      const { runId } = await t.runs.start(config);
      await t.runs.whenExited(runId);
      const rec = (await t.runs.store.readRecord(runId)).summary;
      expect(rec.status).toBe('interrupted');
      expect(rec.error).toContain(`not found in ${elsewhere} (does this worker mount the shared runs folder?)`);
      expect(logs.filter((l) => /attempt failed/.test(l))).toHaveLength(1);
    } finally {
      await w.close();
      await t.close();
    }
  });

  it('a crashing training child is retried with back-off, then the job fails and the run is interrupted with the reason', async () => {
    const t = await setup('banner-then-kill', { attempts: 3 });
    try {
      const { runId } = await t.runs.start(config);
      await t.runs.whenExited(runId);
      expect(t.starts()).toBe(3);
      const rec = (await t.runs.store.readRecord(runId)).summary;
      expect(rec.status).toBe('interrupted');
      expect(rec.error).toMatch(/job .* failed: training process killed by SIGKILL .*out of memory in the MoE dispatch/);
      expect(rec.error).not.toMatch(/TensorFlow\.js/);
      expect(t.logs.filter((l) => /attempt failed/.test(l))).toHaveLength(3);
    } finally {
      await t.close();
    }
  });
});

function readFileSyncSafe(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}
