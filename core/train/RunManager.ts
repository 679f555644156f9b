/**
 * Starts, stops and resumes training runs, each in its own child process (child_process.fork of
 * trainProcess), and relays their events to the EventHub as `onRunEvent`. Training never shares a
 * thread with the code serving the UI, and a crashed child costs only the steps since its last
 * checkpoint: the run is marked 'interrupted' and `resume` continues it.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { EventHub } from '../host/session.js';
import {
  parseOrThrow,
  ProtocolError,
  TrainConfig,
  type BackendChoice,
  type MethodResult,
  type RunEvent,
  type RunRecord,
  type RunSummary,
  type TrainConfigInput,
} from '../protocol/protocol.js';
import { defaultRunsDir, isProcessAlive, newRunRecord, RunNotFoundError, RunStore } from './RunStore.js';
import type { ChildMessage, ParentMessage } from './trainProcessMessages.js';

export interface RunManagerOptions {
  runsDir?: string;
  hub?: EventHub;
  /** Backend for runs whose config says 'auto' (the host's choice). */
  backend?: BackendChoice;
  /** Override of the child entry (see trainProcessEntry). */
  entry?: TrainProcessEntry;
  /** How long `stop` waits for the child's checkpoint before killing it. */
  stopTimeoutMs?: number;
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
  child: ChildProcess;
  exited: Promise<void>;
  done: boolean;
  stderr: string;
}

const STDERR_TAIL = 2000;

export class RunManager {
  readonly store: RunStore;
  private readonly live = new Map<string, LiveRun>();
  private readonly ready: Promise<void>;
  private closed = false;

  constructor(private readonly opts: RunManagerOptions = {}) {
    this.store = new RunStore(opts.runsDir ?? defaultRunsDir());
    this.ready = this.markOrphans();
  }

  /** Runs left 'running' or 'queued' by a process that no longer exists become 'interrupted'. */
  private async markOrphans(): Promise<void> {
    for (const s of await this.store.list()) {
      if (s.status !== 'running' && s.status !== 'queued') continue;
      const pid = await this.store.readOwner(s.id);
      if (pid !== null && pid !== process.pid && isProcessAlive(pid)) continue;
      await this.interrupt(s.id, 'the training process is gone (the app was closed or crashed)');
    }
  }

  private emit(e: RunEvent) {
    this.opts.hub?.emit('onRunEvent', e);
  }

  private async interrupt(runId: string, why: string) {
    const rec = await this.store.updateSummary(runId, { status: 'interrupted', error: why });
    this.emit({ kind: 'status', runId, summary: rec.summary });
  }

  async start(input: TrainConfigInput | TrainConfig): Promise<{ runId: string }> {
    await this.ready;
    const config = parseOrThrow(TrainConfig, input, 'train config');
    const id = this.store.newRunId();
    const record = newRunRecord(id, config);
    await this.store.createRun(record);
    this.emit({ kind: 'status', runId: id, summary: record.summary });
    this.spawn(id, false);
    return { runId: id };
  }

  async resume(runId: string): Promise<{ runId: string }> {
    await this.ready;
    if (this.live.has(runId)) throw new ProtocolError('busy', `run "${runId}" is already training`);
    const rec = await this.read(runId);
    if (rec.summary.status === 'completed') throw new ProtocolError('invalid', `run "${runId}" has completed`);
    if (rec.summary.status === 'running' || rec.summary.status === 'queued') {
      throw new ProtocolError('busy', `run "${runId}" is being trained by another process`);
    }
    const queued = await this.store.updateSummary(runId, { status: 'queued', error: undefined });
    this.emit({ kind: 'status', runId, summary: queued.summary });
    this.spawn(runId, true);
    return { runId };
  }

  /** Ask the child to checkpoint and exit; kill it if it does not within stopTimeoutMs. */
  async stop(runId: string): Promise<{ stopped: boolean }> {
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
    return this.store.list();
  }

  async get(runId: string): Promise<MethodResult<'runs.get'>> {
    await this.ready;
    const record = await this.read(runId);
    const [metrics, specialization] = await Promise.all([this.store.readMetrics(runId), this.store.readSpecialization(runId)]);
    return { record, metrics, specialization };
  }

  /** True while a child is training this run. */
  isTraining(runId: string): boolean {
    return this.live.has(runId);
  }

  /** Resolves when the run's child has exited (immediately if none). */
  async whenExited(runId: string): Promise<void> {
    await this.live.get(runId)?.exited;
  }

  /** Stop every child (each checkpoints first). */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.live.keys()].map((id) => this.stop(id)));
  }

  private async read(runId: string): Promise<RunRecord> {
    try {
      return await this.store.readRecord(runId);
    } catch (e) {
      if (e instanceof RunNotFoundError) throw new ProtocolError('not_found', e.message);
      throw e;
    }
  }

  private sendTo(child: ChildProcess, m: ParentMessage) {
    if (child.connected) child.send(m);
  }

  private spawn(runId: string, resume: boolean) {
    if (this.closed) throw new ProtocolError('failed', 'the run manager is closed');
    const entry = this.opts.entry ?? trainProcessEntry();
    const child = fork(entry.path, [], {
      execArgv: entry.execArgv,
      // Under Electron (the core's utility process) execPath is the Electron binary: run it as Node.
      env: { ...process.env, ELECTRON_RUN_AS_NODE: '1' },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      serialization: 'advanced',
    });
    let resolveExit!: () => void;
    const run: LiveRun = { child, exited: new Promise((r) => (resolveExit = r)), done: false, stderr: '' };
    this.live.set(runId, run);
    child.stdout?.resume();
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (d: string) => {
      run.stderr = (run.stderr + d).slice(-STDERR_TAIL);
    });
    child.on('message', (m: ChildMessage) => {
      if (m.type === 'event') this.emit(m.event);
      else if (m.type === 'done') run.done = true;
    });
    child.on('error', (e) => {
      run.stderr += `\n${e.message}`;
    });
    child.once('exit', (code, signal) => {
      void (async () => {
        if (!run.done) {
          const how = signal ? `killed by ${signal}` : `exited with code ${code}`;
          const tail = run.stderr.trim().split('\n').slice(-3).join(' | ');
          await this.interrupt(runId, `training process ${how}${tail ? `: ${tail}` : ''}`).catch(() => {});
        }
      })().finally(() => {
        this.live.delete(runId);
        resolveExit();
      });
    });
    this.sendTo(child, { type: 'start', runId, runsDir: this.store.root, resume, backend: this.opts.backend });
  }
}
