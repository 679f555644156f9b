/**
 * A small trained run on disk for search/export tests and demos: writes run.json, trains a few steps
 * in-process with the real trainer (so the folder holds a genuine checkpoint), and returns its id.
 */
import { TrainConfig, type RunRecord, type TrainConfigInput } from '../protocol/protocol.js';
import { RunStore } from '../train/RunStore.js';
import { runTraining } from '../train/runTraining.js';

export async function createTestRun(runsDir: string, input: TrainConfigInput): Promise<string> {
  const config = TrainConfig.parse(input);
  const store = new RunStore(runsDir);
  const id = store.newRunId();
  const record: RunRecord = {
    config,
    summary: {
      id,
      name: config.name ?? config.space.name,
      createdAt: new Date().toISOString(),
      status: 'queued',
      strategy: config.strategy,
      step: 0,
      steps: config.steps,
      backend: config.backend,
      device: '',
      spaceName: config.space.name,
      dataKind: config.data.kind,
      lastLoss: null,
      lastAccuracy: null,
      bestValAccuracy: null,
    },
  };
  await store.createRun(record);
  const r = await runTraining({ store, runId: id, resume: false, emit: () => undefined });
  if (r.summary.status !== 'completed') throw new Error(`test run ${id} ended ${r.summary.status}: ${r.summary.error ?? ''}`);
  return id;
}
