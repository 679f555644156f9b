/**
 * `switchyard train … --queue URL` and `switchyard rank … --queue URL`: the same commands, but the
 * training (train) or the standalone trainings (rank) run as jobs on `switchyard worker` processes;
 * this process queues them, shows their progress as it arrives over BullMQ and waits for them. The
 * runs folder (--runs-dir) must be the one the workers mount.
 */
import { ProtocolError, type RunSummary } from '../protocol/protocol.js';
import { runRankCommand } from '../search/rankCli.js';
import type { RunTrainingOptions, RunTrainingResult } from '../train/runTraining.js';
import { runTrainCommand } from '../train/trainCli.js';
import { connectJobQueue, probeRedis, type JobQueue } from './JobQueue.js';
import { parseRedisUrl } from './jobs.js';
import { queuedStandaloneTrainer } from './queueRank.js';

/** `--name value` / `--name=value` out of argv; the rest in order. */
export function takeFlag(argv: readonly string[], name: string): { value: string | undefined; rest: string[] } {
  const rest: string[] = [];
  let value: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === `--${name}`) {
      value = argv[++i];
      if (value === undefined || value.startsWith('--')) throw new ProtocolError('invalid', `--${name} needs a value`, [{ path: `--${name}`, message: 'needs a value' }]);
    } else if (a.startsWith(`--${name}=`)) value = a.slice(name.length + 3);
    else rest.push(a);
  }
  return { value, rest };
}

/** Train one run as a job: its events feed the CLI's progress line as if it trained here. */
export async function trainAsJob(q: JobQueue, o: RunTrainingOptions): Promise<RunTrainingResult> {
  const child = q.spawnChild();
  let reason = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d: string) => (reason += d));
  child.on('message', (m) => {
    if (m.type !== 'event') return;
    o.emit(m.event);
    if (m.event.kind === 'metrics') for (const p of m.event.points) o.onStep?.(p);
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code: number | null) => resolve(code)));
  const onAbort = () => child.send({ type: 'stop' });
  o.signal?.addEventListener('abort', onAbort, { once: true });
  child.send({ type: 'start', runId: o.runId, runsDir: o.store.root, resume: o.resume, backend: o.backend });
  const code = await exited.finally(() => o.signal?.removeEventListener('abort', onAbort));
  let summary: RunSummary = (await o.store.readRecord(o.runId)).summary;
  if (code !== 0 && (summary.status === 'running' || summary.status === 'queued')) summary = { ...summary, status: 'failed', error: reason.trim() || `job ended with code ${code}` };
  return { summary, result: null, testAccuracy: null, test: null };
}

export async function runQueuedCommand(command: 'train' | 'rank', argv: string[]): Promise<number> {
  const { value, rest } = takeFlag(argv, 'queue');
  const redisUrl = parseRedisUrl(value ?? '', '--queue');
  // Before anything is written: a run created for an unreachable queue would sit there 'queued'.
  await probeRedis(redisUrl);
  let queue: Promise<JobQueue> | null = null;
  const connect = (runsDir: string) => (queue ??= connectJobQueue({ redisUrl, runsDir }));
  try {
    if (command === 'rank') {
      return await runRankCommand(rest, { standalone: (runsDir, runId) => queuedStandaloneTrainer(() => connect(runsDir), runsDir, runId) });
    }
    return await runTrainCommand(rest, { execute: async (o) => trainAsJob(await connect(o.store.root), o) });
  } finally {
    // (assigned inside `connect`, which TypeScript's narrowing does not see)
    const pending = queue as Promise<JobQueue> | null;
    await (await pending?.catch(() => null))?.close();
  }
}
