/**
 * The job contract between the host that queues runs (JobQueue) and the workers that train them
 * (`switchyard worker`), over BullMQ on Redis. Both sides validate what crosses Redis with these
 * schemas. A job names a run in the runs folder every worker mounts (a shared folder: NFS, SMB, a
 * bind mount); the run's run.json, metrics.jsonl and checkpoints live there, not in Redis, so a retry
 * on another machine resumes from the run's last checkpoint.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { Redis } from 'ioredis';
import { BackendChoice, ProtocolError, RunEvent, RunStatus, type TrainConfig } from '../protocol/protocol.js';

export const QUEUE_NAME = 'switchyard-runs';

/** One job: bring this run to completion from wherever it stands (its latest checkpoint, or step 0). */
export const RunJobData = z
  .object({
    kind: z.literal('run'),
    runId: z.string().min(1),
    backend: BackendChoice.optional(),
  })
  .strict();
export type RunJobData = z.infer<typeof RunJobData>;

/** What a job returns (BullMQ stores it as the job's return value). */
export const RunJobResult = z.object({
  runId: z.string(),
  status: RunStatus,
  step: z.number().int(),
  worker: z.string(),
});
export type RunJobResult = z.infer<typeof RunJobResult>;

/** Job progress carries one protocol event of the run (job.updateProgress → QueueEvents 'progress'). */
export const JobProgress = z.object({ event: RunEvent });
export type JobProgress = z.infer<typeof JobProgress>;

/**
 * Idempotent job ids: the same run, architecture and seed always get the same id, so queueing a run
 * twice (a retried request, two hosts) makes one job. BullMQ ids may not contain ':'; hex is safe.
 */
export function jobIdFor(runId: string, config: Pick<TrainConfig, 'arch' | 'seed'>): string {
  const h = createHash('sha256').update(JSON.stringify([runId, config.arch ?? null, config.seed])).digest('hex');
  return `run-${h.slice(0, 32)}`;
}

/**
 * Retries with exponential back-off (1 s, 2 s, 4 s, …): a crashed training child, a run another
 * process still holds, a worker shutting down. A worker that dies outright is not an attempt: BullMQ
 * finds the job stalled (its lock expired) and gives it to another worker (see worker.ts).
 */
export const JOB_OPTIONS = {
  attempts: 5,
  backoff: { type: 'exponential' as const, delay: 1000 },
  // Finished jobs stay (the results); a resume of a finished run replaces its job (JobQueue.submit).
  removeOnComplete: false,
  removeOnFail: false,
};

/** Pub/sub channel on which a host asks the worker training a job to stop it (message: the job id). */
export const stopChannel = (queueName: string) => `${queueName}:stop`;

const isRedisUrl = (u: string) => {
  try {
    return /^rediss?:$/.test(new URL(u).protocol);
  } catch {
    return false;
  }
};
const RedisUrl = z.string().refine(isRedisUrl, 'use redis://HOST:PORT or rediss://HOST:PORT');

/** Validates `--redis` / `--queue` (the flag's name is in the error). */
export function parseRedisUrl(url: string, flag = '--redis'): string {
  const r = RedisUrl.safeParse(url);
  if (!r.success) throw new ProtocolError('invalid', `${flag}: ${r.error.issues[0]!.message} (got "${url}")`, [{ path: flag, message: r.error.issues[0]!.message }]);
  return url;
}

/**
 * One Redis connection. BullMQ's blocking commands need maxRetriesPerRequest: null; errors are
 * reported once per outage instead of ioredis' unhandled-error line per reconnect attempt.
 */
export function connectRedis(url: string, onError: (message: string) => void = (m) => console.error(m)): Redis {
  const r = new Redis(url, { maxRetriesPerRequest: null, enableReadyCheck: true });
  let down = false;
  r.on('error', (e: Error) => {
    if (!down) onError(`redis ${url}: ${e.message} (retrying)`);
    down = true;
  });
  r.on('ready', () => {
    down = false;
  });
  return r;
}
