/**
 * Keeps the core's utility process alive: starts it, reports its state, and when it dies restarts it
 * with growing delays (reset once a new process reports ready). The window is never taken down with it.
 * Electron-free so the policy is tested under plain Node; main passes utilityProcess.fork in.
 */
import type { CoreStatus } from '../bridge.js';

export interface CoreChild {
  on(event: 'message', fn: (m: unknown) => void): unknown;
  on(event: 'exit', fn: (code: number) => void): unknown;
  kill(): boolean | void;
}

export interface CoreSupervisorDeps<C extends CoreChild> {
  fork(): C;
  /** The new process said it is ready: wire the window to it. */
  onReady(child: C): void;
  onStatus(status: CoreStatus): void;
  /** Whether anyone still needs the core (a window is open). */
  wanted(): boolean;
  delaysMs?: readonly number[];
  setTimer?: (fn: () => void, ms: number) => unknown;
}

export const RESTART_DELAYS_MS = [250, 1000, 3000, 10000] as const;

export class CoreSupervisor<C extends CoreChild> {
  private child: C | null = null;
  private failures = 0;
  private stopped = false;

  constructor(private readonly deps: CoreSupervisorDeps<C>) {}

  get current(): C | null {
    return this.child;
  }

  /** How many restarts in a row have happened without the core becoming ready. */
  get consecutiveFailures(): number {
    return this.failures;
  }

  start(): C {
    this.stopped = false;
    const child = this.deps.fork();
    this.child = child;
    child.on('message', (m) => {
      if ((m as { type?: string } | null)?.type !== 'ready' || this.child !== child) return;
      this.failures = 0;
      this.deps.onReady(child);
    });
    child.on('exit', (code) => {
      if (this.child !== child) return;
      this.child = null;
      if (this.stopped || !this.deps.wanted()) return;
      this.deps.onStatus(code === 0 ? 'restarting' : 'crashed');
      const delays = this.deps.delaysMs ?? RESTART_DELAYS_MS;
      const delay = delays[Math.min(this.failures++, delays.length - 1)]!;
      (this.deps.setTimer ?? setTimeout)(() => {
        if (this.stopped || !this.deps.wanted() || this.child) return;
        this.deps.onStatus('restarting');
        this.start();
      }, delay);
    });
    return child;
  }

  stop(): void {
    this.stopped = true;
    this.child?.kill();
    this.child = null;
  }
}
