/**
 * `switchyard worker --redis redis://HOST:PORT [--concurrency N] [--backend B] [--runs-dir DIR]`: a
 * job-queue worker on this machine (see worker.ts). Runs until SIGINT/SIGTERM; then running trainings
 * checkpoint and their jobs go to another worker.
 */
import { z } from 'zod';
import { parseFlags } from '../protocol/cliFlags.js';
import { BackendChoice, parseOrThrow } from '../protocol/protocol.js';
import { defaultRunsDir } from '../train/RunStore.js';
import { parseRedisUrl } from './jobs.js';
import { probeRedis } from './JobQueue.js';
import { startWorker } from './worker.js';

const WORKER_USAGE = `Usage: switchyard worker --redis redis://HOST:PORT [flags]
  --redis URL        the Redis the host queues jobs on (redis:// or rediss://)
  --concurrency N    trainings at once (default 1)
  --backend B        auto | tensorflow | webgpu | wasm | cpu, for runs that ask for 'auto' (default auto)
  --runs-dir DIR     the shared runs folder every worker and the host mount (default ${defaultRunsDir()})
  --name NAME        shown in the run list (default HOST:PID)
  --lock-ms N        a worker silent this long is judged dead and its job moves on (default 30000)`;

const WorkerFlags = z
  .object({
    redis: z.string(),
    concurrency: z.coerce.number().int().min(1).max(64).default(1),
    backend: BackendChoice.default('auto'),
    'runs-dir': z.string().optional(),
    name: z.string().min(1).max(100).optional(),
    'lock-ms': z.coerce.number().int().min(500).max(3_600_000).default(30_000),
    help: z.literal(true).optional(),
  })
  .strict();

export async function runWorkerCommand(argv: string[]): Promise<number> {
  const { flags: raw } = parseFlags(argv, ['help']);
  if (raw.help) {
    console.log(WORKER_USAGE);
    return 0;
  }
  const f = parseOrThrow(WorkerFlags, raw, 'flags', []);
  const redisUrl = parseRedisUrl(f.redis);
  const runsDir = f['runs-dir'] ?? defaultRunsDir();
  await probeRedis(redisUrl);
  const w = await startWorker({ redisUrl, runsDir, concurrency: f.concurrency, backend: f.backend, name: f.name, lockMs: f['lock-ms'] });
  console.error(`switchyard worker ${w.name}: ${redisUrl}, runs in ${runsDir}, ${f.concurrency} at once`);
  const stop = async () => {
    await w.close();
    process.exit(0);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  return new Promise<number>(() => {});
}
