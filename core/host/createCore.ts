/**
 * Assembles the core's services behind the protocol's handlers. Both hosts (Electron's utility process
 * and `switchyard serve`) call this and then give each client connection a session.
 */
import { ProtocolError, PROTOCOL_VERSION, type BackendChoice, type BackendInfo } from '../protocol/protocol.js';
import { validateSpace, cardinality, supernetParams } from '../space/validateSpace.js';
import { listExampleSpaces } from '../space/exampleSpaces.js';
import { selectBackend } from '../nn/backend.js';
import { defaultRunsDir } from '../train/RunStore.js';
import { RunManager, type TrainProcessEntry } from '../train/RunManager.js';
import { SearchManager } from '../search/SearchManager.js';
import { exportSubnet } from '../export/exportSubnet.js';
import { EventHub, type Handlers } from './session.js';
import { VERSION } from './version.js';

export interface CoreOptions {
  runsDir?: string;
  backend?: BackendChoice;
  /** Where the training child process's entry is (Electron's bundle lays files out differently). */
  trainEntry?: TrainProcessEntry;
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
  const runs = new RunManager({ runsDir, hub, backend: backendChoice, entry: opts.trainEntry });
  const searches = new SearchManager({ runsDir, hub });

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
    'runs.get': async ({ runId }) => runs.get(runId),
    'train.start': async (cfg) => {
      const r = validateSpace(cfg.space);
      if (!r.ok) {
        const first = r.issues[0]!;
        throw new ProtocolError(
          'invalid',
          `invalid search space: space.${first.path}: ${first.message}`,
          r.issues.map((i) => ({ ...i, path: `space.${i.path}` })),
        );
      }
      return runs.start({ ...cfg, space: r.space });
    },
    'train.stop': async ({ runId }) => runs.stop(runId),
    'train.resume': async ({ runId }) => runs.resume(runId),
    'search.start': async (cfg) => searches.start(cfg),
    'search.cancel': async ({ searchId }) => searches.cancel(searchId),
    'search.list': async ({ runId }) => searches.list(runId),
    'export.subnet': async (req, { signal }) => exportSubnet(req, { runsDir, signal }),
  };

  return {
    handlers,
    hub,
    runsDir,
    async close() {
      await searches.close?.();
      await runs.close();
    },
  };
}
