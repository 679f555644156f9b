/**
 * A small run on disk for search/export tests and demos. By default it writes run.json and a checkpoint
 * of a freshly initialised supernet (seconds, deterministic: search and export mechanics do not need
 * trained weights); with `train: true` it trains in-process with the real trainer instead.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TrainConfig, type TrainConfigInput } from '../protocol/protocol.js';
import type { Supernet } from '../nn/types.js';
import { SearchSpace } from '../space/SearchSpace.js';
import { newRunRecord, RunStore } from '../train/RunStore.js';
import { runTraining } from '../train/runTraining.js';
import { buildRunSupernet } from '../train/strategies/registry.js';
import { readVariables } from '../train/Trainer.js';

/** `prepare` sets the untrained supernet's weights before they are checkpointed (tests that need chosen weights). */
export async function createTestRun(runsDir: string, input: TrainConfigInput, opts: { train?: boolean; prepare?: (net: Supernet) => void } = {}): Promise<string> {
  const config = TrainConfig.parse(input);
  const store = new RunStore(runsDir);
  const id = store.newRunId();
    const record = newRunRecord(id, config, config.space.name);
  await store.createRun(record);
  if (opts.train) {
    const r = await runTraining({ store, runId: id, resume: false, emit: () => undefined });
    if (r.summary.status !== 'completed') throw new Error(`test run ${id} ended ${r.summary.status}: ${r.summary.error ?? ''}`);
    return id;
  }
  const net = buildRunSupernet(config);
  try {
    opts.prepare?.(net);
    await store.writeCheckpoint(id, {
      meta: { step: 0, elapsedSec: 0, samplerRngState: 0, data: { epoch: 0, cursor: 0, epochRngState: 0 }, optimizer: null, bestValAccuracy: null },
      variables: readVariables(net),
      optimizerSlots: [],
    });
  } finally {
    net.dispose();
  }
  await store.updateSummary(id, { status: 'stopped' });
  return id;
}

/** An untrained run of a one-stage dense space (depth 1–2, width 4 or 8) on 3-class spirals, in a fresh runs folder. */
export async function createTinyDenseRun(prefix: string): Promise<{ runsDir: string; runId: string }> {
  const runsDir = join(await mkdtemp(join(tmpdir(), prefix)), 'runs');
  const space = SearchSpace.parse({
    version: 1,
    name: 'tiny dense',
    input: { kind: 'vector', dim: 2 },
    numClasses: 3,
    stages: [{ id: 's1', depth: [1, 2], block: { type: 'dense', width: [4, 8], activation: 'relu' } }],
  });
  const runId = await createTestRun(runsDir, { space, data: { kind: 'spirals', classes: 3, samples: 300, noise: 0.2, seed: 1 }, backend: 'cpu' });
  return { runsDir, runId };
}
