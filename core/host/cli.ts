/**
 * `switchyard <command>`: serve (headless app in a browser), train, search, export.
 * Flags are validated with the protocol's schemas so a bad value names the flag.
 */
import { z } from 'zod';
import { BackendChoice, parseOrThrow, ProtocolError } from '../protocol/protocol.js';
import { parseFlags } from '../protocol/cliFlags.js';
import { VERSION } from './version.js';

export { parseFlags };

const USAGE = `Switchyard ${VERSION} — visual workbench for NAS and Mixture-of-Experts

Usage:
  switchyard serve  [--port 7860] [--host 127.0.0.1] [--token T] [--allow-host H,…] [--runs-dir DIR] [--backend B] [--max-runs N]
  switchyard train  <space.json> [--data spirals|gaussians|fashion-mnist[:DIR]] [--steps N] [--backend B] ...
  switchyard search <runId> [--strategy nsga2|evolution|random] [--objectives accuracy,latency] ...
  switchyard rank   <runId> [--subnets N] [--steps S] [--seeds R]   inherited vs standalone ranking (Kendall τ)
  switchyard export <runId> <arch.json|vector|largest|smallest> [--formats tfjs,onnx,arch] [--out DIR]
  switchyard compress <runId> <arch.json|vector|largest|smallest> [--method quantize,mc-smoe,stun,sub-moe] [--levels L;…]
  switchyard worker --redis redis://HOST:PORT [--concurrency N] [--backend B] [--runs-dir DIR]   train queued jobs
  switchyard help <command>

Backends (B): auto (tensorflow → webgpu → wasm → cpu), tensorflow, webgpu, wasm, cpu.
Job queue: serve --redis URL, train … --queue URL and rank … --queue URL hand the trainings to
\`switchyard worker\` processes (they mount the same --runs-dir); without them everything runs here.
`;


const ServeFlags = z
  .object({
    port: z.coerce.number().int().min(0).max(65535).default(7860),
    host: z.string().default('127.0.0.1'),
    token: z.string().min(8, 'use at least 8 characters').optional(),
    'runs-dir': z.string().optional(),
    backend: BackendChoice.default('auto'),
    /** Comma-separated extra Host names to answer to (DNS rebinding guard; see requestGuard.ts). */
    'allow-host': z.string().optional(),
    /** Runs training at once (more queue); default 1 on a GPU backend, 2 on CPU. */
    'max-runs': z.coerce.number().int().min(1).max(64).optional(),
    /** redis://HOST:PORT: runs train as jobs on `switchyard worker` processes (core/queue). */
    redis: z.string().optional(),
  })
  .strict();

async function serveCommand(argv: string[]): Promise<number> {
  const { flags } = parseFlags(argv);
  const f = parseOrThrow(ServeFlags, flags, 'flags', []);
  const { serve } = await import('./serve.js');
  const redis = f.redis === undefined ? undefined : (await import('../queue/jobs.js')).parseRedisUrl(f.redis, '--redis');
  const allowHosts = f['allow-host']?.split(',').map((h) => h.trim()).filter(Boolean) ?? [];
  const s = await serve({ port: f.port, host: f.host, token: f.token, runsDir: f['runs-dir'], backend: f.backend, maxRuns: f['max-runs'], allowHosts, redis });
  const url = f.token ? `${s.url}?token=${encodeURIComponent(f.token)}` : s.url;
  console.log(`Switchyard serving ${url}`);
  console.log(`runs: ${s.core.runsDir}`);
  if (redis) console.log(`runs train as jobs on the workers of ${redis}`);
  const stop = async () => {
    await s.close();
    process.exit(0);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  return new Promise<number>(() => {});
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'serve':
        return await serveCommand(rest);
      case 'train':
        if (rest.some((a) => a === '--queue' || a.startsWith('--queue='))) return await (await import('../queue/queueCli.js')).runQueuedCommand('train', rest);
        return await (await import('../train/trainCli.js')).runTrainCommand(rest);
      case 'search':
        return await (await import('../search/searchCli.js')).runSearchCommand(rest);
      case 'rank':
        if (rest.some((a) => a === '--queue' || a.startsWith('--queue='))) return await (await import('../queue/queueCli.js')).runQueuedCommand('rank', rest);
        return await (await import('../search/rankCli.js')).runRankCommand(rest);
      case 'worker':
        return await (await import('../queue/workerCli.js')).runWorkerCommand(rest);
      case 'export':
        return await (await import('../export/exportCli.js')).runExportCommand(rest);
      case 'compress':
        return await (await import('../compress/compressCli.js')).runCompressCommand(rest);
      case '--version':
      case 'version':
        console.log(VERSION);
        return 0;
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        console.log(USAGE);
        return 0;
      default:
        console.error(`unknown command "${command}"\n\n${USAGE}`);
        return 2;
    }
  } catch (e) {
    if (e instanceof ProtocolError) {
      console.error(`switchyard ${command}: ${e.message}`);
      for (const i of e.issues?.slice(1, 10) ?? []) console.error(`  ${i.path}: ${i.message}`);
      return 2;
    }
    console.error(`switchyard ${command}: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    return 1;
  }
}
