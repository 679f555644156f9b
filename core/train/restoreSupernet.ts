/**
 * Rebuild a run's trained supernet from its folder: the search space and seed from run.json, the
 * weights from the latest checkpoint. Search and export start here.
 */
import { basename, dirname, resolve } from 'node:path';
import type { Supernet } from '../nn/types.js';
import type { RunRecord } from '../protocol/protocol.js';
import type { Checkpoint } from './checkpointFormat.js';
import { RunStore } from './RunStore.js';
import { buildRunSupernet } from './strategies/registry.js';
import { loadVariables } from './Trainer.js';

export interface RestoredSupernet {
  net: Supernet;
  record: RunRecord;
  /** Step the weights come from. */
  step: number;
  checkpoint: Checkpoint;
}

/**
 * `runDir` is a run's folder, e.g. `<runsDir>/<runId>`. Throws if the run has no checkpoint yet. A
 * damaged checkpoint.bin falls back to checkpoint.prev.bin and `onWarning` hears about it (default:
 * stderr); both damaged is an error naming both files.
 */
export async function restoreSupernet(runDir: string, onWarning?: (message: string) => void): Promise<RestoredSupernet> {
  const abs = resolve(runDir);
  const store = new RunStore(dirname(abs));
  const runId = basename(abs);
  const record = await store.readRecord(runId);
  const checkpoint = await store.loadLatestCheckpoint(runId, onWarning);
  if (!checkpoint) throw new Error(`run "${runId}" has no checkpoint yet (it is saved every ${record.config.checkpointEvery} steps)`);
  // The strategy's network: few-shot runs come back as their sub-supernets and split tree.
  const net = buildRunSupernet(record.config, checkpoint.meta.strategyState);
  try {
    loadVariables(net, checkpoint.variables);
  } catch (e) {
    net.dispose();
    throw e;
  }
  return { net, record, step: checkpoint.meta.step, checkpoint };
}
