/**
 * Runs `switchyard rank` jobs for the app: each in a child process (the CLI entry, forked), never on
 * the thread that serves clients (STYLE rule 5); the child writes <run>/rank.json after every
 * training, and `get` reads that file. One job per run at a time.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ProtocolError, RankConfig, type BackendChoice, type RankConfigInput, type RankReport } from '../protocol/protocol.js';
import { RunStore } from '../train/RunStore.js';
import { readRankReport } from './rankRun.js';

export interface RankManagerOptions {
  runsDir: string;
  /** Backend the child selects (the host's choice). */
  backend?: BackendChoice;
  /** Override of the CLI entry to fork (tests). */
  entry?: { path: string; execArgv: string[] };
  /** redis://…: the child trains the standalone subnets as jobs on workers (`rank --queue`, core/queue). */
  queue?: string;
}

/**
 * The CLI to fork: from TypeScript sources core/host/cliMain.ts through tsx; in a bundled build this
 * module lives inside out/cli/switchyard.mjs (the CLI itself) or out/main/core.js (Electron's core),
 * and the CLI bundle is out/cli/switchyard.mjs either way.
 */
export function cliEntry(moduleUrl: string = import.meta.url): { path: string; execArgv: string[] } {
  const here = fileURLToPath(moduleUrl);
  if (here.endsWith('.ts')) {
    const tsx = createRequire(moduleUrl).resolve('tsx');
    return { path: join(dirname(here), '..', 'host', 'cliMain.ts'), execArgv: ['--import', pathToFileURL(tsx).href] };
  }
  return { path: join(dirname(here), '..', 'cli', 'switchyard.mjs'), execArgv: [] };
}

export class RankManager {
  private readonly live = new Map<string, { child: ChildProcess; exited: Promise<void> }>();
  private readonly store: RunStore;

  constructor(private readonly opts: RankManagerOptions) {
    this.store = new RunStore(opts.runsDir);
  }

  async start(cfgIn: RankConfigInput): Promise<{ runId: string }> {
    const parsed = RankConfig.safeParse(cfgIn);
    if (!parsed.success) {
      const i = parsed.error.issues[0]!;
      throw new ProtocolError('invalid', `invalid rank config: ${i.path.join('.') || '(root)'}: ${i.message}`);
    }
    const cfg = parsed.data;
    if (!(await this.store.exists(cfg.runId))) throw new ProtocolError('not_found', `run "${cfg.runId}" not found`);
    if (this.live.has(cfg.runId)) throw new ProtocolError('busy', `run "${cfg.runId}" is already being ranked`);
    const entry = this.opts.entry ?? cliEntry();
    const args = ['rank', cfg.runId, '--runs-dir', this.opts.runsDir, '--subnets', String(cfg.subnets), '--steps', String(cfg.steps), '--seeds', String(cfg.seeds), '--eval-samples', String(cfg.evalSamples), '--seed', String(cfg.seed), '--json'];
    if (this.opts.backend) args.push('--backend', this.opts.backend);
    if (this.opts.queue) args.push('--queue', this.opts.queue);
    const child = fork(entry.path, args, {
      execArgv: entry.execArgv,
      // Under an unfused Electron execPath is the Electron binary: run it as Node.
      env: { ...process.env, ELECTRON_RUN_AS_NODE: '1' },
      stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
    });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    this.live.set(cfg.runId, { child, exited });
    void exited.then(() => this.live.delete(cfg.runId));
    return { runId: cfg.runId };
  }

  /**
   * The stored report. One recorded as running whose writer is gone (not our child, and its pid no
   * longer alive: a crash, a restart) was cut off: 'interrupted'. A `switchyard rank` in a terminal
   * shows as running.
   */
  async get(runId: string): Promise<RankReport | null> {
    if (!(await this.store.exists(runId))) throw new ProtocolError('not_found', `run "${runId}" not found`);
    const r = await readRankReport(this.opts.runsDir, runId);
    if (r && r.status === 'running' && !this.live.has(runId) && !(r.pid !== undefined && processAlive(r.pid))) r.status = 'interrupted';
    if (!r && this.live.has(runId)) return null;
    return r;
  }

  /** Stop a job (SIGINT: the child stops after the training in flight and records 'stopped'). */
  async cancel(runId: string): Promise<{ cancelled: boolean }> {
    const l = this.live.get(runId);
    if (!l) return { cancelled: false };
    l.child.kill('SIGINT');
    return { cancelled: true };
  }

  /** Wait for a job's child to exit (tests, shutdown). */
  async wait(runId: string): Promise<void> {
    await this.live.get(runId)?.exited;
  }

  async close(): Promise<void> {
    for (const l of this.live.values()) l.child.kill('SIGINT');
    await Promise.allSettled([...this.live.values()].map((l) => l.exited));
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: it exists but belongs to someone else.
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
