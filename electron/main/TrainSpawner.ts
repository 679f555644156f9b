/**
 * The main process's side of training children (see electron/trainChannel.ts): forks trainProcess as
 * a utility process when the core asks, relays messages both ways (queued until the child has
 * spawned), its stderr and its exit. When the core that asked goes away, its children are told to stop
 * (they checkpoint and exit, as a forked child does when its parent disconnects) and their later
 * messages are dropped, so a restarted core never receives a stranger's messages under a reused id.
 * Electron-free like CoreSupervisor: main passes utilityProcess.fork in.
 */
import type { ParentMessage } from '../../core/train/trainProcessMessages.js';
import { isTrainRequest, type TrainReport } from '../trainChannel.js';

/** What TrainSpawner uses of an Electron UtilityProcess. */
export interface TrainUtilityChild {
  readonly pid: number | undefined;
  readonly stderr: NodeJS.ReadableStream | null;
  postMessage(m: unknown): void;
  kill(): boolean;
  on(event: 'spawn', fn: () => void): unknown;
  on(event: 'message', fn: (m: unknown) => void): unknown;
  on(event: 'exit', fn: (code: number) => void): unknown;
}

export interface TrainSpawnerDeps<C extends TrainUtilityChild> {
  /** Fork main's own training entry (never a path from the core). */
  fork(): C;
  /** Send a report to the core that is current now. */
  toCore(r: TrainReport): void;
  /** Hard kill by pid (UtilityProcess.kill sends SIGTERM, which trainProcess treats as "stop"). */
  killPid?(pid: number, signal: 'SIGKILL'): void;
}

interface Entry<C> {
  child: C;
  spawned: boolean;
  queue: ParentMessage[];
  killedWith: 'SIGTERM' | 'SIGKILL' | null;
  /** Orphaned before it spawned: it never got 'start', so it is ended as soon as it exists. */
  killOnSpawn: boolean;
}

export class TrainSpawner<C extends TrainUtilityChild> {
  /** Children of the current core, by the core's id. */
  private readonly children = new Map<number, Entry<C>>();
  /** Every child process still running, the current core's and orphans. */
  private readonly running = new Set<C>();
  private idle: (() => void)[] = [];

  constructor(private readonly deps: TrainSpawnerDeps<C>) {}

  /** Training processes still running (including those of a core that went away). */
  get runningCount(): number {
    return this.running.size;
  }

  /** Resolves once no training process runs (app quit waits for their checkpoints). */
  whenIdle(): Promise<void> {
    if (this.running.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  /** Feed one message from the core; false if it is not a training request. */
  receive(m: unknown): boolean {
    if (!isTrainRequest(m)) return false;
    if (m.type === 'train:spawn') this.spawn(m.id);
    else {
      const e = this.children.get(m.id);
      if (!e) return true;
      if (m.type === 'train:send') {
        if (e.spawned) e.child.postMessage(m.message);
        else e.queue.push(m.message);
      } else this.kill(e, m.signal);
    }
    return true;
  }

  /** The core exited: its children stop with a checkpoint, and nothing of theirs reaches a new core. */
  coreGone(): void {
    const orphans = [...this.children.values()];
    this.children.clear();
    for (const e of orphans) {
      if (e.spawned) e.child.postMessage({ type: 'stop' } satisfies ParentMessage);
      else {
        e.queue = [];
        e.killOnSpawn = true;
      }
    }
  }

  private spawn(id: number) {
    if (this.children.has(id)) return;
    let child: C;
    try {
      child = this.deps.fork();
    } catch (e) {
      this.deps.toCore({ type: 'train:stderr', id, text: `cannot start the training process: ${e instanceof Error ? e.message : e}\n` });
      this.deps.toCore({ type: 'train:exit', id, code: 1, signal: null });
      return;
    }
    const entry: Entry<C> = { child, spawned: false, queue: [], killedWith: null, killOnSpawn: false };
    this.children.set(id, entry);
    this.running.add(child);
    const mine = () => this.children.get(id) === entry;
    child.on('spawn', () => {
      entry.spawned = true;
      if (entry.killOnSpawn) child.kill();
      for (const m of entry.queue.splice(0)) child.postMessage(m);
    });
    child.on('message', (message) => {
      if (mine()) this.deps.toCore({ type: 'train:message', id, message: message as never });
    });
    child.stderr?.on('data', (d: Buffer | string) => {
      if (mine()) this.deps.toCore({ type: 'train:stderr', id, text: String(d) });
    });
    child.on('exit', (code) => {
      this.running.delete(child);
      if (this.running.size === 0) for (const resolve of this.idle.splice(0)) resolve();
      if (!mine()) return;
      this.children.delete(id);
      // A utility process reports only an exit code; the signal is known when main sent it.
      this.deps.toCore({ type: 'train:exit', id, code: entry.killedWith ? null : code, signal: entry.killedWith });
    });
  }

  private kill(e: Entry<C>, signal: 'SIGTERM' | 'SIGKILL') {
    e.killedWith = signal;
    if (signal === 'SIGKILL' && e.child.pid !== undefined && this.deps.killPid) this.deps.killPid(e.child.pid, 'SIGKILL');
    else e.child.kill();
  }
}
