/**
 * Assembles the core's services behind the protocol's handlers. Both hosts (Electron's utility process
 * and `switchyard serve`) call this and then give each client connection a session.
 */
import { resolve } from 'node:path';
import { FASHION_MNIST_DIR } from '../data/fashionMnist.js';
import { totalmem } from 'node:os';
import { ProtocolError, PROTOCOL_VERSION, type BackendChoice, type BackendInfo, type TrainConfig } from '../protocol/protocol.js';
import { validateSpace, cardinality, supernetParams } from '../space/validateSpace.js';
import { listExampleSpaces } from '../space/exampleSpaces.js';
import { activationBudgetFor, activationMemoryIssues } from '../space/activationMemory.js';
import { selectBackend } from '../nn/backend.js';
import { defaultRunsDir } from '../train/RunStore.js';
import { defaultMaxConcurrent, RunManager, type TrainProcessEntry } from '../train/RunManager.js';
import type { SpawnTrainChild } from '../train/TrainChild.js';
import { RankManager } from '../search/RankManager.js';
import { connectJobQueue } from '../queue/JobQueue.js';
import { SearchManager } from '../search/SearchManager.js';
import { RunFollower } from '../train/RunFollower.js';
import { exportSubnet } from '../export/exportSubnet.js';
import { listCompressResults } from '../compress/compressRun.js';
import { compressInChild } from '../compress/compressChild.js';
import { generateOnRun, tokenRoutingOnRun } from '../train/tokenRoutingRun.js';
import { EventHub, type Handlers } from './session.js';
import { VERSION } from './version.js';

export interface CoreOptions {
  /**
   * Activation memory one training step may take (core/space/activationMemory.ts); bigger configs are
   * refused at train.start. Default: 4 GiB or half of this machine's memory, whichever is less.
   */
  activationBudgetBytes?: number;
  runsDir?: string;
  backend?: BackendChoice;
  /** Where the training child process's entry is (Electron's bundle lays files out differently). */
  trainEntry?: TrainProcessEntry;
  /** Starts training children instead of forking trainEntry (Electron: utility processes via main). */
  spawnTrainChild?: SpawnTrainChild;
  /**
   * Folders a client may name as a dataset's `dir` (default: Debian's Fashion-MNIST folder plus
   * $SWITCHYARD_DATA_DIRS, colon-separated). A client must not make the host probe arbitrary paths.
   */
  dataDirs?: string[];
  /** Runs training at once; more wait as 'queued'. Default: 1 on a GPU backend, 2 on CPU. */
  maxRuns?: number;
  /**
   * redis://HOST:PORT: runs (and rankings' standalone trainings) become BullMQ jobs that
   * `switchyard worker` processes train (core/queue); the workers mount the same runs folder.
   * Absent: everything trains on this machine.
   */
  redis?: string;
}

export function defaultDataDirs(env: NodeJS.ProcessEnv = process.env): string[] {
  return [FASHION_MNIST_DIR, ...(env.SWITCHYARD_DATA_DIRS?.split(':').filter(Boolean) ?? [])];
}

/** Refuse a dataset folder the host has not offered (the field path names the culprit). */
export function checkDataDir(data: TrainConfig['data'], allowed: readonly string[]): void {
  if (!('dir' in data)) return;
  const dir = resolve(data.dir);
  if (allowed.some((a) => resolve(a) === dir)) return;
  throw new ProtocolError('invalid', `invalid train config: data.dir: "${data.dir}" is not a dataset folder this host offers (${allowed.join(', ')})`, [
    { path: 'data.dir', message: 'not a dataset folder this host offers' },
  ]);
}

export interface Core {
  handlers: Handlers;
  hub: EventHub;
  runsDir: string;
  close(): Promise<void>;
}

export async function createCore(opts: CoreOptions = {}): Promise<Core> {
  const runsDir = opts.runsDir ?? defaultRunsDir();
  const backendChoice = opts.backend ?? 'auto';
  const hub = new EventHub();
  const activationBudget = opts.activationBudgetBytes ?? activationBudgetFor(totalmem());
  const dataDirs = opts.dataDirs ?? defaultDataDirs();
  const jobs = opts.redis ? await connectJobQueue({ redisUrl: opts.redis, runsDir, backend: opts.backend }) : null;
  const runs = new RunManager({
    runsDir,
    hub,
    backend: backendChoice,
    entry: opts.trainEntry,
    spawnChild: jobs?.spawnChild ?? opts.spawnTrainChild,
    ownedRemotely: jobs?.hasLiveJob,
    // asked when the first run starts, by which time the backend has been probed (getBackend below);
    // with a job queue the workers' concurrency is the limit, not this machine's
    maxConcurrent: opts.maxRuns ?? (jobs ? 1000 : async () => defaultMaxConcurrent(await getBackend())),
  });
  // Runs another process writes (a CLI run, a worker) reach the clients as live events too.
  const follower = new RunFollower({ store: runs.store, emit: (e) => hub.emit('onRunEvent', e), isOwned: (id) => runs.isTraining(id) || runs.queued().includes(id) });
  follower.start();
  const searches = new SearchManager({ runsDir, hub });
  const rankings = new RankManager({ runsDir, backend: backendChoice, queue: opts.redis });

  // The backend is chosen once, lazily: loading tfjs and probing a GPU should not delay the first paint.
  let backend: Promise<BackendInfo | null> | null = null;
  const getBackend = () =>
    (backend ??= selectBackend(backendChoice).catch((e) => {
      console.error(`switchyard: no backend: ${e instanceof Error ? e.message : e}`);
      return null;
    }));

  const handlers: Handlers = {
    'host.hello': async () => ({
      protocol: PROTOCOL_VERSION,
      version: VERSION,
      backend: await getBackend(),
      runsDir,
    }),
    'space.examples': async () => listExampleSpaces(),
    'space.validate': async ({ space }) => {
      const r = validateSpace(space);
      if (!r.ok) return { ok: false, issues: r.issues, cardinality: null, params: null };
      return { ok: true, issues: [], cardinality: cardinality(r.space), params: supernetParams(r.space) };
    },
    'runs.list': async () => runs.list(),
    'runs.get': async ({ runId, ...page }) => runs.get(runId, page),
    'runs.update': async ({ runId, ...labels }) => runs.update(runId, labels),
    'runs.delete': async ({ runId }) => runs.delete(runId),
    'train.start': async (cfg) => {
      checkDataDir(cfg.data, dataDirs);
      const r = validateSpace(cfg.space);
      if (!r.ok) {
        const first = r.issues[0]!;
        throw new ProtocolError(
          'invalid',
          `invalid search space: space.${first.path}: ${first.message}`,
          r.issues.map((i) => ({ ...i, path: `space.${i.path}` })),
        );
      }
      const memory = activationMemoryIssues(r.space, cfg.batchSize, activationBudget, cfg.strategy === 'plain' ? cfg.arch : undefined);
      if (memory.length > 0) throw new ProtocolError('invalid', `invalid train config: ${memory[0]!.message}`, memory);
      return runs.start({ ...cfg, space: r.space });
    },
    'train.stop': async ({ runId }) => runs.stop(runId),
    'train.resume': async ({ runId }) => runs.resume(runId),
    'search.start': async (cfg) => searches.start(cfg),
    'search.cancel': async ({ searchId }) => searches.cancel(searchId),
    'search.list': async ({ runId }) => searches.list(runId),
    'rank.start': async (cfg) => rankings.start(cfg),
    'rank.get': async ({ runId }) => rankings.get(runId),
    'rank.cancel': async ({ runId }) => rankings.cancel(runId),
    'export.subnet': async (req, { signal }) => exportSubnet(req, { runsDir, signal }),
    // In a child process (the CLI), as rank: the passes are synchronous JavaScript.
    'compress.run': async (req, { signal }) => compressInChild(req, { runsDir, backend: backendChoice, signal }),
    'compress.list': async ({ runId }) => listCompressResults(runsDir, runId, (m) => console.warn(m)),
    'run.tokenRouting': async (req) => tokenRoutingOnRun(req, runsDir),
    'run.generate': async (req, { signal }) => generateOnRun(req, runsDir, signal),
  };

  return {
    handlers,
    hub,
    runsDir,
    async close() {
      await follower.stop();
      await searches.close?.();
      await rankings.close();
      // Jobs keep training on their workers: let go of them first, so closing stops nothing remote.
      await jobs?.close();
      await runs.close();
    },
  };
}
