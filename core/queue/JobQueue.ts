/**
 * The host's side of the job queue: runs become BullMQ jobs that `switchyard worker` processes train,
 * and each job looks to RunManager like a training child (the TrainChild contract), so the run list,
 * `onRunEvent`, stop and resume work as they do locally. Events come back over BullMQ's QueueEvents
 * (the workers publish each RunEvent as job progress); the job's end is the child's exit (completed:
 * code 0; failed after its last attempt: code 1, the reason on stderr).
 */
import { EventEmitter } from 'node:events';
import { PassThrough } from 'node:stream';
import { Queue, QueueEvents, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { ProtocolError, type BackendChoice } from '../protocol/protocol.js';
import { RunStore } from '../train/RunStore.js';
import type { TrainChild } from '../train/TrainChild.js';
import type { ChildMessage, ParentMessage } from '../train/trainProcessMessages.js';
import { connectRedis, JOB_OPTIONS, JobProgress, jobIdFor, QUEUE_NAME, RunJobResult, stopChannel, type RunJobData } from './jobs.js';

export interface JobQueueOptions {
  redisUrl: string;
  /** The runs folder the workers mount too. */
  runsDir: string;
  queueName?: string;
  backend?: BackendChoice;
  onError?: (message: string) => void;
  /** Retries and back-off (default JOB_OPTIONS). */
  jobOptions?: Partial<typeof JOB_OPTIONS>;
}

/** A queued job as RunManager sees it: a child that starts when a worker takes the job. */
export class QueueTrainChild extends EventEmitter implements TrainChild {
  connected = true;
  readonly stdout = null;
  readonly stderr = new PassThrough();
  jobId: string | null = null;
  private exitedWith: { code: number | null; signal: NodeJS.Signals | null } | null = null;

  constructor(private readonly q: JobQueue) {
    super();
  }

  send(m: ParentMessage): boolean {
    if (!this.connected) return false;
    if (m.type === 'start') {
      this.q.submit(this, m.runId).catch((e: unknown) => this.fail(`could not queue the job: ${e instanceof Error ? e.message : String(e)}`));
    } else if (this.jobId) void this.q.requestStop(this, this.jobId);
    return true;
  }

  /** A remote worker cannot be signalled: a waiting job is removed, an active one is asked to stop; the host lets go of it. */
  kill(signal: NodeJS.Signals = 'SIGTERM'): boolean {
    if (!this.connected) return false;
    if (this.jobId) void this.q.requestStop(this, this.jobId);
    this.exit(null, signal);
    return true;
  }

  /** A message as if from the child (an event from the worker). */
  deliver(m: ChildMessage) {
    if (this.connected) this.emit('message', m);
  }

  fail(reason: string) {
    this.stderr.write(`${reason}\n`);
    this.exit(1, null);
  }

  exit(code: number | null, signal: NodeJS.Signals | null) {
    if (this.exitedWith) return;
    this.exitedWith = { code, signal };
    this.connected = false;
    this.q.forget(this);
    this.stderr.end();
    // After stderr's last chunk is read (RunManager keeps its tail as the reason).
    setImmediate(() => this.emit('exit', code, signal));
  }
}

export class JobQueue {
  readonly queue: Queue;
  readonly events: QueueEvents;
  readonly queueName: string;
  private readonly store: RunStore;
  private readonly conns: Redis[] = [];
  private readonly pub: Redis;
  private readonly children = new Map<string, QueueTrainChild>();
  private readonly finished = new Map<string, Array<(r: { ok: true; result: RunJobResult } | { ok: false; reason: string }) => void>>();

  constructor(private readonly opts: JobQueueOptions) {
    this.queueName = opts.queueName ?? QUEUE_NAME;
    this.store = new RunStore(opts.runsDir);
    const conn = () => {
      const c = connectRedis(opts.redisUrl, opts.onError);
      this.conns.push(c);
      return c;
    };
    this.queue = new Queue(this.queueName, { connection: conn() });
    this.events = new QueueEvents(this.queueName, { connection: conn() });
    this.pub = conn();
    // Connection errors are reported once per outage by connectRedis; BullMQ would print each retry.
    this.queue.on('error', () => {});
    this.events.on('error', () => {});
    this.events.on('progress', ({ jobId, data }) => {
      const parsed = JobProgress.safeParse(data);
      if (parsed.success) this.children.get(jobId)?.deliver({ type: 'event', event: parsed.data.event });
    });
    this.events.on('stalled', ({ jobId }) => {
      const child = this.children.get(jobId);
      if (!child) return;
      const runId = this.runOf(jobId);
      if (runId) child.deliver({ type: 'event', event: { kind: 'log', runId, level: 'warn', message: `the worker training job ${jobId} was lost; the job goes to another worker, which resumes from the last checkpoint` } });
    });
    this.events.on('completed', ({ jobId, returnvalue }) => {
      const raw: unknown = typeof returnvalue === 'string' ? safeJson(returnvalue) : returnvalue;
      const r = RunJobResult.safeParse(raw);
      this.settle(jobId, r.success ? { ok: true, result: r.data } : { ok: false, reason: `job ${jobId} returned ${String(returnvalue)}` });
    });
    this.events.on('failed', ({ jobId, failedReason }) => this.settle(jobId, { ok: false, reason: failedReason }));
  }

  /** Resolves once Redis answers (the queue and its event stream). */
  async ready(): Promise<void> {
    await Promise.all([this.queue.waitUntilReady(), this.events.waitUntilReady()]);
  }

  /** A SpawnTrainChild for RunManager: its runs become jobs. */
  spawnChild = (): QueueTrainChild => new QueueTrainChild(this);

  private readonly jobRuns = new Map<string, string>();
  private runOf(jobId: string) {
    return this.jobRuns.get(jobId);
  }

  private settle(jobId: string, r: { ok: true; result: RunJobResult } | { ok: false; reason: string }) {
    const child = this.children.get(jobId);
    if (child) {
      // The worker's final status event came before (one stream, in order); run.json holds it too.
      if (r.ok) child.exit(0, null);
      else child.fail(`job ${jobId} failed: ${r.reason}`);
    }
    for (const fn of this.finished.get(jobId) ?? []) fn(r);
    this.finished.delete(jobId);
  }

  /**
   * Queue the run (idempotent: an unfinished job of the same run, architecture and seed is joined, not
   * duplicated; a finished one, from before a stop, is replaced so the run can go on).
   */
  async submit(child: QueueTrainChild | null, runId: string): Promise<string> {
    const rec = await this.store.readRecord(runId);
    const jobId = jobIdFor(runId, rec.config);
    this.jobRuns.set(jobId, runId);
    if (child) {
      child.jobId = jobId;
      this.children.set(jobId, child);
    }
    const old = await this.queue.getJob(jobId);
    if (old) {
      const state = await old.getState();
      if (state !== 'completed' && state !== 'failed') return jobId; // queued or being trained: join it
      if (state === 'completed' && rec.summary.status === 'completed') return jobId; // done: nothing to train
      await old.remove(); // stopped or failed before: the run goes on from its checkpoint
    }
    if (rec.summary.jobId !== jobId) await this.store.updateSummary(runId, { jobId });
    const data: RunJobData = { kind: 'run', runId, ...(this.opts.backend ? { backend: this.opts.backend } : {}) };
    await this.queue.add('run', data, { ...JOB_OPTIONS, ...this.opts.jobOptions, jobId });
    return jobId;
  }

  /** Queue a run and wait for its job to finish (rankings' standalone trainings). */
  async runToCompletion(runId: string, signal?: AbortSignal): Promise<RunJobResult> {
    const rec = await this.store.readRecord(runId);
    const jobId = jobIdFor(runId, rec.config);
    const done = new Promise<RunJobResult>((resolve, reject) => {
      const list = this.finished.get(jobId) ?? [];
      list.push((r) => (r.ok ? resolve(r.result) : reject(new Error(`job ${jobId} (run ${runId}) failed: ${r.reason}`))));
      this.finished.set(jobId, list);
    });
    const onAbort = () => void this.stopJob(jobId);
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      await this.submit(null, runId);
      // It may have finished before we listened (a job completed earlier is not run twice).
      const job = await this.queue.getJob(jobId);
      const state = await job?.getState();
      if (state === 'completed') this.settle(jobId, { ok: true, result: RunJobResult.parse(job!.returnvalue) });
      return await done;
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  /** True while the run has a job waiting for a worker or on one (RunManager's ownedRemotely). */
  hasLiveJob = async (runId: string): Promise<boolean> => {
    if (this.detached.has(runId)) return true;
    const rec = await this.store.readRecord(runId).catch(() => null);
    if (!rec) return false;
    const job = await this.queue.getJob(jobIdFor(runId, rec.config));
    const state = await job?.getState();
    return state === 'waiting' || state === 'active' || state === 'delayed' || state === 'prioritized' || state === 'waiting-children';
  };

  /** Remove a job that no worker has taken yet; ask the worker training it to stop otherwise. */
  async stopJob(jobId: string): Promise<'removed' | 'asked' | 'gone'> {
    const job: Job | undefined = await this.queue.getJob(jobId);
    if (!job) return 'gone';
    const state = await job.getState();
    if (state === 'waiting' || state === 'delayed' || state === 'prioritized') {
      try {
        await job.remove();
        return 'removed';
      } catch {
        // taken by a worker between the two calls: ask it
      }
    } else if (state === 'completed' || state === 'failed') return 'gone';
    await this.pub.publish(stopChannel(this.queueName), jobId);
    return 'asked';
  }

  /** RunManager's stop: a waiting job ends here at once (a new run becomes 'stopped'); an active one stops on its worker. */
  async requestStop(child: QueueTrainChild, jobId: string): Promise<void> {
    const how = await this.stopJob(jobId).catch(() => 'gone' as const);
    if (how !== 'removed') return;
    const runId = this.jobRuns.get(jobId);
    if (runId) {
      const rec = await this.store.readRecord(runId).catch(() => null);
      if (rec?.summary.status === 'queued') await this.store.updateSummary(runId, { status: 'stopped' });
    }
    child.exit(0, null);
  }

  forget(child: QueueTrainChild) {
    if (child.jobId && this.children.get(child.jobId) === child) this.children.delete(child.jobId);
  }

  /** Queued / active / done counts (the queue's view, for a status line). */
  async counts(): Promise<Record<string, number>> {
    return this.queue.getJobCounts('waiting', 'active', 'delayed', 'completed', 'failed');
  }

  /** Runs whose jobs this host let go of at close: still owned by the queue, answered without Redis. */
  private readonly detached = new Set<string>();

  /** Let go of every job (they train on); RunManager then sees them as owned remotely. */
  async close(): Promise<void> {
    for (const c of [...this.children.values()]) {
      const runId = c.jobId ? this.jobRuns.get(c.jobId) : undefined;
      if (runId) this.detached.add(runId);
      c.exit(null, 'SIGTERM');
    }
    // BullMQ's close waits for Redis; with Redis gone it would wait forever: then force the sockets shut.
    const within = (p: Promise<unknown>, ms: number) => Promise.race([p.then(() => true, () => true), new Promise<false>((r) => setTimeout(() => r(false), ms))]);
    if (!(await within(Promise.allSettled([this.events.close(), this.queue.close()]), 2000))) {
      await within(Promise.allSettled([this.events.disconnect(), this.queue.disconnect()]), 1000);
    }
    await within(Promise.allSettled(this.conns.map((c) => (c.status === 'ready' ? c.quit() : c.disconnect()))), 1000);
    for (const c of this.conns) c.disconnect();
  }
}

function safeJson(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    return s;
  }
}

/** Throws, naming the URL and the reason, unless Redis answers a PING (one try, no retries). */
export async function probeRedis(url: string, timeoutMs = 10_000): Promise<void> {
  const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: timeoutMs });
  let why = '';
  probe.on('error', (e: Error) => (why ||= e.message));
  try {
    await probe.connect();
    await probe.ping();
  } catch (e) {
    throw new ProtocolError('failed', `cannot reach Redis at ${url}: ${why || (e instanceof Error ? e.message : String(e))}`);
  } finally {
    probe.disconnect();
  }
}

/**
 * A JobQueue whose Redis answered. Redis is probed first with a client that does not retry, so an
 * unreachable or wrong URL is an error naming it at once (BullMQ's own clients would retry forever).
 */
export async function connectJobQueue(opts: JobQueueOptions & { timeoutMs?: number }): Promise<JobQueue> {
  await probeRedis(opts.redisUrl, opts.timeoutMs);
  const q = new JobQueue(opts);
  await q.ready();
  return q;
}
