/**
 * Test and benchmark helpers: a throwaway redis-server on a free loopback port (no persistence), and
 * `switchyard worker` processes, each the leader of its own process group so a test can SIGKILL a
 * worker together with its training child, as when the machine under it goes away.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Redis } from 'ioredis';

/** Null when redis-server is on PATH; otherwise why the job-queue tests cannot run. */
export function redisServerMissing(): string | null {
  const r = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  return r.status === 0 ? null : 'redis-server is not installed (apt-get install redis-server): the job-queue tests are skipped';
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export interface TestRedis {
  url: string;
  stop(): Promise<void>;
}

export async function startRedis(): Promise<TestRedis> {
  const port = await freePort();
  const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  const url = `redis://127.0.0.1:${port}`;
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  for (let i = 0; ; i++) {
    const c = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    c.on('error', () => {});
    try {
      await c.connect();
      await c.ping();
      c.disconnect();
      break;
    } catch {
      c.disconnect();
      if (i > 100 || proc.exitCode !== null) throw new Error(`redis-server did not start on port ${port}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return {
    url,
    async stop() {
      proc.kill('SIGTERM');
      await exited;
    },
  };
}

export interface TestWorker {
  name: string;
  proc: ChildProcess;
  log: () => string;
  /** SIGKILL the worker and its training child (its whole process group). */
  killHard(): Promise<void>;
  stop(): Promise<void>;
}

const cliMain = join(dirname(fileURLToPath(import.meta.url)), '..', 'host', 'cliMain.ts');

/** `cli`: the command before `worker` (default: core/host/cliMain.ts through tsx; e2e: the built bin/switchyard.mjs). */
export function startWorkerProcess(opts: { redisUrl: string; runsDir: string; name: string; lockMs?: number; backend?: string; cli?: string[] }): TestWorker {
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
  const args = [...(opts.cli ?? ['--import', tsx, cliMain]), 'worker', '--redis', opts.redisUrl, '--runs-dir', opts.runsDir, '--name', opts.name, '--backend', opts.backend ?? 'cpu', '--lock-ms', String(opts.lockMs ?? 1500)];
  const proc = spawn(process.execPath, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (out += d));
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  return {
    name: opts.name,
    proc,
    log: () => out,
    async killHard() {
      if (proc.exitCode === null && proc.signalCode === null) process.kill(-proc.pid!, 'SIGKILL');
      await exited;
    },
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      await exited;
    },
  };
}
