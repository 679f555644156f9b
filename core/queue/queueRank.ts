/**
 * A ranking's standalone trainings as jobs (rankRun's StandaloneTrainer seam): each subnet and seed
 * becomes a run of its own in the shared runs folder — id `rank-<hash of ranked run, arch, seed>`, so
 * queueing it again joins the same run and job — trained by whichever worker takes it, checkpointed on
 * the way so a lost worker costs only the steps since the last checkpoint. The ranking then restores
 * the trained subnet from the run's final checkpoint and scores it itself on its validation samples.
 *
 * Deviation from the in-process trainer: the run checkpoints every steps/10 (the in-process one never
 * does); checkpoints do not touch the random streams, so the trained weights are the same.
 */
import { createHash } from 'node:crypto';
import type { TrainConfig } from '../protocol/protocol.js';
import type { StandaloneTrainer } from '../search/rankRun.js';
import { restoreSupernet } from '../train/restoreSupernet.js';
import { newRunRecord, RunStore } from '../train/RunStore.js';
import type { JobQueue } from './JobQueue.js';

export function standaloneRunId(rankedRunId: string, config: Pick<TrainConfig, 'arch' | 'seed' | 'steps'>): string {
  const h = createHash('sha256').update(JSON.stringify([rankedRunId, config.arch ?? null, config.seed, config.steps])).digest('hex');
  return `rank-${h.slice(0, 20)}`;
}

/** `queue` may be a getter: the CLI connects on the first training. */
export function queuedStandaloneTrainer(queue: JobQueue | (() => Promise<JobQueue>), runsDir: string, rankedRunId: string, parallel = 64): StandaloneTrainer {
  const store = new RunStore(runsDir);
  return {
    parallel,
    async train(config, signal) {
      signal?.throwIfAborted();
      const runId = standaloneRunId(rankedRunId, config);
      if (!(await store.exists(runId))) {
        const cfg: TrainConfig = { ...config, checkpointEvery: Math.max(1, Math.ceil(config.steps / 10)) };
        await store.createRun(newRunRecord(runId, cfg, `rank ${rankedRunId} · seed ${config.seed}`));
      }
      const q = typeof queue === 'function' ? await queue() : queue;
      const r = await q.runToCompletion(runId, signal);
      if (r.status !== 'completed') {
        if (signal?.aborted) throw new DOMException('rank stopped', 'AbortError');
        const rec = await store.readRecord(runId);
        throw new Error(`standalone training ${runId} on ${r.worker} ended ${r.status}${rec.summary.error ? `: ${rec.summary.error}` : ''}`);
      }
      const restored = await restoreSupernet(store.runDir(runId));
      return { net: restored.net, trainSec: restored.checkpoint.meta.elapsedSec };
    },
  };
}
