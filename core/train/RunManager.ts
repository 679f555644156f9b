/**
 * Starts, stops and resumes training runs, each in its own child process (child_process.fork of
 * trainProcess), and relays their events to the EventHub as `onRunEvent`. Training never shares a
 * thread with the code serving the UI, and a crashed child costs only the steps since its last
 * checkpoint: the run is marked 'interrupted' and `resume` continues it.
 *
 * At most `maxConcurrent` children train at once (default: one per GPU backend, two on CPU); further
 * runs wait with status 'queued' and start as slots free. The child takes the run's lock
 * (runLock.ts) before it touches the run, so two managers, or a manager and the CLI, never train one
 * run twice; the child writes the final status to run.json itself before it exits, so the parent
 * trusts what it finds there when the child's last message was not read.
 */
import { fork } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { EventHub } from '../protocol/EventHub.js';
import {
  parseOrThrow,
  ProtocolError,
  TrainConfig,
  type BackendChoice,
  type BackendInfo,
  type MethodParamsParsed,
  type MethodResult,
  type RunEvent,
  type RunLabels,
  type RunRecord,
  type RunSummary,
  type TrainConfigInput,
} from '../protocol/protocol.js';
import { defaultRunsDir, newRunRecord, RunDamagedError, RunNotFoundError, RunStore } from './RunStore.js';
import { isHolderAlive } from './runLock.js';
import type { ChildMessage, ParentMessage } from './trainProcessMessages.js';
import type { SpawnTrainChild, TrainChild } from './TrainChild.js';

export interface RunManagerOptions {
  runsDir?: string;
  hub?: EventHub;
  /** Backend for runs whose config says 'auto' (the host's choice). */
  backend?: BackendChoice;
  /** Override of the child entry (see trainProcessEntry). */
  entry?: TrainProcessEntry;
  /** Starts a training child instead of forking `entry` (Electron's core: a utility process via main). */
  spawnChild?: SpawnTrainChild;
  /**
   * True while something other than a run lock owns the run: a job queue's waiting or active job
   * (core/queue), whose worker may not have taken the lock yet or holds it on another machine. Such
   * runs are not marked interrupted at start, nor when this manager lets go of their child.
   */
  ownedRemotely?: (runId: string) => Promise<boolean>;
  /** How long `stop` waits for the child's checkpoint before killing it. */
  stopTimeoutMs?: number;
  /** Children training at once; more runs queue. A function is asked once, when the first run starts. */
  maxConcurrent?: number | (() => number | Promise<number>);
}

/** One child per GPU (they would share it), two on CPU backends (a 2-core machine still serves the UI). */
export function defaultMaxConcurrent(backend: BackendInfo | null | undefined): number {
  if (!backend) return 2;
  const gpu = backend.name === 'webgpu' || (backend.name === 'tensorflow' && /CUDA|GPU/i.test(backend.device));
  return gpu ? 1 : 2;
}

export interface TrainProcessEntry {
  path: string;
  execArgv: string[];
}

/**
 * The file to fork. From TypeScript sources (dev, tests) that is trainProcess.ts run through tsx; in
 * the bundled build this module lives inside out/cli/switchyard.mjs and the entry is its sibling
 * out/cli/trainProcess.mjs (bundled from core/train/trainProcess.ts).
 */
export function trainProcessEntry(moduleUrl: string = import.meta.url): TrainProcessEntry {
  const here = fileURLToPath(moduleUrl);
  if (here.endsWith('.ts')) {
    const tsx = createRequire(moduleUrl).resolve('tsx');
    return { path: join(dirname(here), 'trainProcess.ts'), execArgv: ['--import', pathToFileURL(tsx).href] };
  }
  return { path: join(dirname(here), 'trainProcess.mjs'), execArgv: [] };
}

interface LiveRun {
  child: TrainChild;
  exited: Promise<void>;
  /** 'done' or 'busy' arrived: the child ended on its own terms. */
  ended: boolean;
  /** The child has reported a status of its own (it holds the lock). */
  reported: boolean;
  stderr: string;
}

interface QueuedRun {
  runId: string;
  resume: boolean;
}

const STDERR_TAIL = 4000;

/**
 * Lines a killed child's reason should not show: the TF.js banner (tfjs-backend-cpu prints it on first
 * use in Node), stack frames and Node's version footer.
 */
const NOISE = [/^=+$/, /running TensorFlow\.js in Node\.js/i, /^Hi there\b/i, /tfjs-node for more details/i, /^at\s/, /^Node\.js v\d/];

/** The last `n` meaningful lines of a child's stderr, joined with " | ". */
export function lastLogLines(stderr: string, n = 3): string {
  return stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !NOISE.some((re) => re.test(l)))
    .slice(-n)
    .join(' | ');
}

export class RunManager {
  readonly store: RunStore;
  private readonly live = new Map<string, LiveRun>();
  private readonly queue: QueuedRun[] = [];
  /** Runs this manager has queued or is training: a second start/resume of one is refused at once. */
  private readonly claimed = new Set<string>();
  /** Labels set while a child trains: its status events carry the names it read at start. */
  private readonly labels = new Map<string, RunLabels>();
  private readonly ready: Promise<void>;
  private limit: Promise<number> | null = null;
  /** Per queued or live run: resolves once it has left the queue without starting, or its child exited. */
  private readonly finished = new Map<string, { promise: Promise<void>; resolve: () => void }>();
  private closed = false;

  constructor(private readonly opts: RunManagerOptions = {}) {
    this.store = new RunStore(opts.runsDir ?? defaultRunsDir());
    this.ready = this.markOrphans();
  }

  /** Runs left 'running' or 'queued' whose lock no live process holds become 'interrupted'. */
  private async markOrphans(): Promise<void> {
    for (const s of await this.store.list()) {
      if (s.status !== 'running' && s.status !== 'queued') continue;
      if (await this.ownedElsewhere(s.id)) continue;
      await this.interrupt(s.id, 'the training process is gone (the app was closed or crashed)').catch(() => {});
    }
  }

  /** True if a live process holds the run's lock (or a job queue owns the run: ownedRemotely). */
  private async ownedElsewhere(runId: string): Promise<boolean> {
    const holder = await this.store.readOwnerLock(runId).catch(() => null);
    if (holder !== null && isHolderAlive(holder)) return true;
    return (await this.opts.ownedRemotely?.(runId).catch(() => false)) ?? false;
  }

  private emit(e: RunEvent) {
    this.opts.hub?.emit('onRunEvent', e);
  }

  private async interrupt(runId: string, why: string) {
    const rec = await this.store.updateSummary(runId, { status: 'interrupted', error: why });
    this.emit({ kind: 'status', runId, summary: rec.summary });
  }

  /** How many children may train at once. */
  maxConcurrent(): Promise<number> {
    const m = this.opts.maxConcurrent;
    // A provider that fails (no backend) or answers nonsense gets the CPU default, not a stuck queue.
    this.limit ??= Promise.resolve()
      .then(() => (typeof m === 'function' ? m() : (m ?? 2)))
      .then((n) => (Number.isFinite(n) && n >= 1 ? Math.floor(n) : 2), () => 2);
    return this.limit;
  }

  /** Runs waiting for a slot, in the order they will start. */
  queued(): string[] {
    return this.queue.map((q) => q.runId);
  }

  /** Number of children alive now. */
  training(): number {
    return this.live.size;
  }

  async start(input: TrainConfigInput | TrainConfig): Promise<{ runId: string }> {
    await this.ready;
    const config = parseOrThrow(TrainConfig, input, 'train config');
    const id = this.store.newRunId();
    const record = newRunRecord(id, config);
    this.claimed.add(id);
    await this.store.createRun(record);
    this.emit({ kind: 'status', runId: id, summary: record.summary });
    this.enqueue({ runId: id, resume: false });
    await this.pump();
    return { runId: id };
  }

  async resume(runId: string): Promise<{ runId: string }> {
    // Claimed before the first await: two concurrent calls cannot both get past here.
    if (this.claimed.has(runId)) throw new ProtocolError('busy', `run "${runId}" is already training or queued`);
    this.claimed.add(runId);
    try {
      await this.ready;
      const rec = await this.read(runId);
      if (rec.summary.status === 'completed') throw new ProtocolError('invalid', `run "${runId}" has completed`);
      const holder = await this.store.readOwnerLock(runId).catch(() => null);
      if (holder && isHolderAlive(holder)) {
        throw new ProtocolError('busy', `run "${runId}" is being trained by another process (pid ${holder.pid})`);
      }
      // run.json is left alone until the child holds the lock; 'queued' lives here until then.
      this.emit({ kind: 'status', runId, summary: { ...rec.summary, status: 'queued', error: undefined } });
      this.enqueue({ runId, resume: true });
    } catch (e) {
      this.claimed.delete(runId);
      throw e;
    }
    await this.pump();
    return { runId };
  }

  private enqueue(q: QueuedRun) {
    if (this.closed) {
      this.claimed.delete(q.runId);
      throw new ProtocolError('failed', 'the run manager is closed');
    }
    this.queue.push(q);
    let resolve!: () => void;
    const promise = new Promise<void>((r) => (resolve = r));
    this.finished.set(q.runId, { promise, resolve });
  }

  private finish(runId: string) {
    this.claimed.delete(runId);
    this.finished.get(runId)?.resolve();
    this.finished.delete(runId);
  }

  /** Start queued runs while there are free slots. */
  private async pump(): Promise<void> {
    const max = await this.maxConcurrent();
    while (!this.closed && this.live.size < max && this.queue.length > 0) {
      const next = this.queue.shift()!;
      try {
        this.spawn(next.runId, next.resume);
      } catch (e) {
        this.finish(next.runId);
        const message = e instanceof Error ? e.message : String(e);
        await this.interrupt(next.runId, `could not start the training process: ${message}`).catch(() => {});
      }
    }
  }

  /**
   * Ask the child to checkpoint and exit; kill it if it does not within stopTimeoutMs. A queued run
   * leaves the queue (a new one becomes 'stopped', a resumed one keeps the status it had).
   */
  async stop(runId: string): Promise<{ stopped: boolean }> {
    const qi = this.queue.findIndex((q) => q.runId === runId);
    if (qi >= 0) {
      const [q] = this.queue.splice(qi, 1);
      try {
        const rec = q!.resume ? await this.read(runId) : await this.store.updateSummary(runId, { status: 'stopped' });
        this.emit({ kind: 'status', runId, summary: rec.summary });
      } finally {
        this.finish(runId);
      }
      return { stopped: true };
    }
    const run = this.live.get(runId);
    if (!run) {
      await this.read(runId);
      return { stopped: false };
    }
    this.sendTo(run.child, { type: 'stop' });
    const timeout = this.opts.stopTimeoutMs ?? 30_000;
    let timer: NodeJS.Timeout | undefined;
    const killed = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        run.child.kill('SIGKILL');
        resolve();
      }, timeout);
    });
    await Promise.race([run.exited, killed]);
    clearTimeout(timer);
    await run.exited;
    return { stopped: true };
  }

  async list(): Promise<RunSummary[]> {
    await this.ready;
    return (await this.store.list()).map((s) => this.withQueueStatus(s));
  }

  /** Rename or retag a run (labels.json: a training child's writes of run.json never undo it). */
  async update(runId: string, patch: RunLabels): Promise<RunSummary> {
    await this.ready;
    await this.read(runId);
    const labels = await this.store.writeLabels(runId, patch);
    if (this.live.has(runId)) this.labels.set(runId, labels);
    const summary = this.withQueueStatus((await this.read(runId)).summary);
    this.emit({ kind: 'status', runId, summary });
    return summary;
  }

  /** Delete a run's folder; refused while this or another process trains it, or it waits in the queue. */
  async delete(runId: string): Promise<{ deleted: boolean }> {
    await this.ready;
    await this.read(runId).catch((e) => {
      // a damaged run can be deleted too; only a missing one cannot
      if (e instanceof ProtocolError && e.code === 'not_found') throw e;
    });
    if (this.claimed.has(runId) || this.live.has(runId) || (await this.ownedElsewhere(runId))) {
      throw new ProtocolError('busy', `run "${runId}" is training or queued: stop it first`);
    }
    await this.store.deleteRun(runId);
    this.labels.delete(runId);
    this.emit({ kind: 'removed', runId });
    return { deleted: true };
  }

  /** The record and one page of the metric history (see the protocol's `runs.get`). */
  async get(runId: string, page: Partial<Omit<MethodParamsParsed<'runs.get'>, 'runId'>> = {}): Promise<MethodResult<'runs.get'>> {
    await this.ready;
    const record = await this.read(runId);
    record.summary = this.withQueueStatus(record.summary);
    const [metrics, specialization] = await Promise.all([this.store.readMetricsPage(runId, page), this.store.readSpecialization(runId)]);
    return { record, metrics: metrics.points, specialization, total: metrics.total, nextOffset: metrics.nextOffset };
  }

  /** A run waiting for a slot (or for its child to take over) shows as 'queued'. */
  private withQueueStatus(s: RunSummary): RunSummary {
    const waiting = this.queue.some((q) => q.runId === s.id) || (this.live.has(s.id) && !this.live.get(s.id)!.reported);
    return waiting && s.status !== 'queued' ? { ...s, status: 'queued', error: undefined } : s;
  }

  /** True while a child is training this run. */
  isTraining(runId: string): boolean {
    return this.live.has(runId);
  }

  /** Resolves when the run's child has exited, or a queued run has left the queue (immediately if neither). */
  async whenExited(runId: string): Promise<void> {
    await this.finished.get(runId)?.promise;
  }

  /** Stop every child (each checkpoints first); queued runs stay queued on disk and become 'interrupted' next start. */
  async close(): Promise<void> {
    this.closed = true;
    for (const q of this.queue.splice(0)) this.finish(q.runId);
    await Promise.all([...this.live.keys()].map((id) => this.stop(id)));
  }

  private async read(runId: string): Promise<RunRecord> {
    try {
      return await this.store.readRecord(runId);
    } catch (e) {
      if (e instanceof RunNotFoundError) throw new ProtocolError('not_found', e.message);
      if (e instanceof RunDamagedError) throw new ProtocolError('failed', `run "${runId}" is damaged: ${e.message}`);
      throw e;
    }
  }

  private sendTo(child: TrainChild, m: ParentMessage) {
    if (child.connected) child.send(m);
  }

  private spawn(runId: string, resume: boolean) {
    const entry = this.opts.entry ?? trainProcessEntry();
    const child: TrainChild =
      this.opts.spawnChild?.() ??
      fork(entry.path, [], {
        execArgv: entry.execArgv,
        // Under an unfused Electron execPath is the Electron binary: run it as Node.
        env: { ...process.env, ELECTRON_RUN_AS_NODE: '1' },
        stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
        serialization: 'advanced',
      });
    let resolveExit!: () => void;
    const run: LiveRun = { child, exited: new Promise((r) => (resolveExit = r)), ended: false, reported: false, stderr: '' };
    this.live.set(runId, run);
    child.stdout?.resume();
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (d: string) => {
      run.stderr = (run.stderr + d).slice(-STDERR_TAIL);
    });
    child.on('message', (m: ChildMessage) => {
      if (m.type === 'event') {
        if (m.event.kind === 'status') run.reported = true;
        const l = m.event.kind === 'status' ? this.labels.get(runId) : undefined;
        this.emit(l && m.event.kind === 'status' ? { ...m.event, summary: { ...m.event.summary, ...l } } : m.event);
      } else if (m.type === 'done') run.ended = true;
      else if (m.type === 'busy') {
        // Another process took the run's lock first: it is that process's run; report, touch nothing.
        run.ended = true;
        this.emit({ kind: 'log', runId, level: 'error', message: m.message });
      }
    });
    child.on('error', (e) => {
      run.stderr += `\n${e.message}`;
    });
    child.once('exit', (code, signal) => {
      void this.settle(runId, run, code, signal)
        .catch(() => {})
        .finally(() => {
          this.live.delete(runId);
          resolveExit();
          this.finish(runId);
          void this.pump().catch(() => {});
        });
    });
    this.sendTo(child, { type: 'start', runId, runsDir: this.store.root, resume, backend: this.opts.backend });
  }

  /**
   * After a child exits. Its final status is in run.json (the child writes it before it exits) even
   * when its 'done' message was never read, so a run.json saying 'completed', or any final status
   * after a clean exit, stands; a run left 'running' or 'queued' was cut short: 'interrupted', with
   * the signal or exit code and the child's last log lines.
   */
  private async settle(runId: string, run: LiveRun, code: number | null, signal: NodeJS.Signals | null) {
    if (await this.ownedElsewhere(runId)) return; // another process trains it now
    const rec = await this.store.readRecord(runId);
    const status = rec.summary.status;
    const clean = code === 0 && !signal;
    if (status === 'completed' || (clean && status !== 'running' && status !== 'queued')) {
      if (!run.ended) this.emit({ kind: 'status', runId, summary: rec.summary });
      return;
    }
    if (run.ended && status !== 'running' && status !== 'queued') return;
    const how = signal ? `killed by ${signal}` : `exited with code ${code}`;
    const tail = lastLogLines(run.stderr);
    await this.interrupt(runId, `training process ${how}${tail ? `: ${tail}` : ''}`);
  }
}
