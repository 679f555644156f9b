/**
 * `switchyard worker`: takes run jobs from the queue and trains each in a child process (the same
 * trainProcess entry RunManager forks), so this process's event loop stays free to renew the job's
 * BullMQ lock; the child's RunEvents go back to the host as job progress.
 *
 * Failure handling, where each case ends up:
 * - the training child crashes or is killed: the job fails this attempt and is retried with back-off;
 *   the retry resumes from the run's last checkpoint (metrics after it are cut, so none is doubled);
 * - this whole worker dies (SIGKILL, power, network): its job lock expires, another worker's stalled
 *   check (every `lockMs`) moves the job back to waiting, and the next worker resumes it the same way;
 * - the run is held by another live process (its lock: runLock.ts): this attempt fails, retried later;
 * - the run has completed already (a duplicate delivery): the job returns at once, nothing retrained;
 * - shutdown (SIGINT/SIGTERM): children checkpoint, their jobs are failed for a retry elsewhere.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { BackendChoice, RunEvent } from '../protocol/protocol.js';
import { lastLogLines, trainProcessEntry, type TrainProcessEntry } from '../train/RunManager.js';
import { isHolderAlive, LOCK_FILE } from '../train/runLock.js';
import { RunNotFoundError, RunStore } from '../train/RunStore.js';
import type { ChildMessage, ParentMessage } from '../train/trainProcessMessages.js';
import { connectRedis, QUEUE_NAME, RunJobData, stopChannel, type JobProgress, type RunJobResult } from './jobs.js';

export interface WorkerOptions {
  redisUrl: string;
  /** The shared runs folder (the same one the host and every other worker mount). */
  runsDir: string;
  /** Jobs trained at once (default 1: one child per GPU, or per two CPU cores). */
  concurrency?: number;
  /** Backend for runs whose config says 'auto'. */
  backend?: BackendChoice;
  /** Shown in the run list (default: host name and pid). */
  name?: string;
  /** BullMQ lock of an active job, renewed every lockMs/2; a worker silent this long is judged dead (default 30 s). */
  lockMs?: number;
  /** Times a job may be found stalled before it fails (default 3). */
  maxStalled?: number;
  queueName?: string;
  entry?: TrainProcessEntry;
  log?: (line: string) => void;
}

export interface RunningWorker {
  name: string;
  /** Stop taking jobs; running children checkpoint and their jobs go back for a retry. */
  close(): Promise<void>;
}

interface LiveJob {
  child: ChildProcess;
  userStop: boolean;
}

export async function startWorker(opts: WorkerOptions): Promise<RunningWorker> {
  const name = opts.name ?? `${hostname()}:${process.pid}`;
  const log = opts.log ?? ((l: string) => console.error(l));
  const queueName = opts.queueName ?? QUEUE_NAME;
  const store = new RunStore(opts.runsDir);
  const live = new Map<string, LiveJob>();
  const conns: Redis[] = [];
  const conn = () => {
    const c = connectRedis(opts.redisUrl, log);
    conns.push(c);
    return c;
  };
  let closing = false;

  const sub = conn();
  await sub.subscribe(stopChannel(queueName));
  sub.on('message', (_channel: string, jobId: string) => {
    const j = live.get(jobId);
    if (!j) return;
    j.userStop = true;
    send(j.child, { type: 'stop' });
  });

  const process_ = async (job: Job): Promise<RunJobResult> => {
    const data = RunJobData.parse(job.data);
    const runId = data.runId;
    const rec = await store.readRecord(runId).catch((e: unknown) => {
      // Retrying cannot make it appear: fail the job now.
      if (e instanceof RunNotFoundError) throw new UnrecoverableError(`run "${runId}" not found in ${store.root} (does this worker mount the shared runs folder?)`);
      throw e;
    });
    const result = (status: RunJobResult['status'], step: number): RunJobResult => ({ runId, status, step, worker: name });
    if (rec.summary.status === 'completed') return result('completed', rec.summary.step);
    await takeOverForeignLock(store, runId, job, log);
    // Held by a live trainer (a CLI, the app, a previous attempt's child still checkpointing): try later,
    // and leave its run.json alone meanwhile.
    const holder = await store.readOwnerLock(runId).catch(() => null);
    if (holder && isHolderAlive(holder)) throw new Error(`run "${runId}" is being trained by process ${holder.pid}${holder.host ? ` on ${holder.host}` : ''}; retrying later`);
    await store.updateSummary(runId, { worker: name, jobId: job.id });
    log(`${name}: job ${job.id} run ${runId} (start ${job.attemptsStarted}, from step ${rec.summary.step})`);

    const entry = opts.entry ?? trainProcessEntry();
    const child = fork(entry.path, [], {
      execArgv: entry.execArgv,
      env: { ...process.env, ELECTRON_RUN_AS_NODE: '1' },
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      serialization: 'advanced',
    });
    const j: LiveJob = { child, userStop: false };
    live.set(job.id!, j);
    let stderr = '';
    let busy: string | null = null;
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (d: string) => (stderr = (stderr + d).slice(-4000)));
    // Progress updates in order, one at a time; a failed update (Redis blip) drops that event only.
    let chain = Promise.resolve();
    const publish = (event: RunEvent) => {
      const ev: RunEvent = event.kind === 'status' ? { ...event, summary: { ...event.summary, worker: name, jobId: job.id } } : event;
      chain = chain.then(() => job.updateProgress({ event: ev } satisfies JobProgress).catch(() => {}));
    };
    child.on('message', (m: ChildMessage) => {
      if (m.type === 'event') publish(m.event);
      else if (m.type === 'busy') busy = m.message;
    });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    // Always from the latest checkpoint: a first attempt has none and starts at step 0; a retry after
    // a crash must not append to the history the crashed attempt left.
    send(child, { type: 'start', runId, runsDir: store.root, resume: true, backend: data.backend ?? opts.backend });
    const { code, signal } = await exited;
    live.delete(job.id!);
    await chain;
    if (busy) throw new Error(`${busy}; retrying later`);
    const after = await store.readRecord(runId);
    const status = after.summary.status;
    if (status === 'completed' || status === 'failed') return result(status, after.summary.step);
    if (status === 'stopped' && j.userStop) return result('stopped', after.summary.step);
    if (status === 'stopped' || closing) throw new Error(`worker ${name} shut down at step ${after.summary.step}; the run continues from its checkpoint`);
    const how = signal ? `killed by ${signal}` : `exited with code ${code}`;
    const tail = lastLogLines(stderr);
    throw new Error(`training process ${how} at step ${after.summary.step}${tail ? `: ${tail}` : ''}`);
  };

  const lockMs = opts.lockMs ?? 30_000;
  const worker = new Worker(queueName, process_, {
    connection: conn(),
    concurrency: opts.concurrency ?? 1,
    lockDuration: lockMs,
    stalledInterval: lockMs,
    maxStalledCount: opts.maxStalled ?? 3,
    name,
  });
  worker.on('failed', (job, e) => log(`${name}: job ${job?.id} attempt failed: ${e.message}`));
  worker.on('completed', (job, r: RunJobResult) => log(`${name}: job ${job.id} run ${r.runId} ${r.status} at step ${r.step}`));
  worker.on('error', (e) => log(`${name}: ${e.message}`));
  // Cut off from Redis long enough to lose a job's lock: another worker may get the job; stop training
  // it here (with a checkpoint) rather than train it twice.
  worker.on('lockRenewalFailed', (jobIds: string[]) => {
    for (const id of jobIds) {
      const j = live.get(id);
      if (j) send(j.child, { type: 'stop' });
    }
  });
  await worker.waitUntilReady();

  return {
    name,
    async close() {
      closing = true;
      for (const j of live.values()) send(j.child, { type: 'stop' });
      await worker.close();
      await Promise.allSettled(conns.map((c) => c.quit()));
    },
  };
}

/**
 * A run lock left by a worker on another machine cannot be probed from here (runLock.ts counts it as
 * alive). When BullMQ hands us a job that an earlier attempt started, that attempt's worker lost its
 * job lock (it died, or was cut off and stops its child: see lockRenewalFailed), so its run lock is
 * stale: remove it. A lock of this machine is judged by runLock.ts as always.
 */
async function takeOverForeignLock(store: RunStore, runId: string, job: Job, log: (l: string) => void) {
  if (job.attemptsStarted <= 1) return;
  const holder = await store.readOwnerLock(runId).catch(() => null);
  if (!holder?.host || holder.host === hostname()) return;
  log(`job ${job.id}: taking over run ${runId} from process ${holder.pid} on ${holder.host}, whose job lock expired`);
  await rm(join(store.runDir(runId), LOCK_FILE), { force: true });
}

function send(child: ChildProcess, m: ParentMessage) {
  if (child.connected) child.send(m);
}
