/**
 * Drives one run stored on disk: picks the backend, loads the data, builds the supernet (restoring the
 * latest checkpoint on resume), trains, and keeps run.json / metrics.jsonl / specialization.json /
 * checkpoint.bin up to date while publishing RunEvents. The training child process (trainProcess.ts)
 * and the in-process CLI both call it. It first takes the run's lock (RunStore.acquireOwner) and
 * touches nothing if another live process holds it (RunBusyError); the final status is in run.json
 * before it returns.
 */
import { checkDatasetFitsInput, loadDataset } from '../data/Dataset.js';
import { selectBackend } from '../nn/backend.js';
import type { BackendChoice, RunEvent, RunRecord, RunSummary } from '../protocol/protocol.js';
import type { RunStore } from './RunStore.js';
import { train, type TrainResult } from './Trainer.js';
import type { MetricPoint } from '../protocol/protocol.js';
import { accuracyEstimate } from '../protocol/accuracyInterval.js';
import type { AccuracyEstimate } from '../protocol/protocol.js';
import { evaluationBatchNormBatches, withSubnetBatchNorm } from './batchNorm.js';
import { evaluateArch } from './evaluate.js';
import { tokenScores } from './languageModel.js';
import { buildRunSupernet } from './strategies/registry.js';
import { upcycleFromRuns } from './upcycle.js';

export interface RunTrainingOptions {
  store: RunStore;
  runId: string;
  /** Continue from the latest checkpoint (and cut the metric history back to it). */
  resume: boolean;
  /** Used when the run's config asks for 'auto'. */
  backend?: BackendChoice;
  signal?: AbortSignal;
  emit: (e: RunEvent) => void;
  onStep?: (p: MetricPoint) => void;
  /**
   * Score the evaluated subnet on the whole test split at the end (the CLI's final report; recorded in
   * run.json as summary.test). Nothing else touches the test split during training.
   */
  finalTest?: boolean;
}

export interface RunTrainingResult {
  summary: RunSummary;
  result: TrainResult | null;
  /** Accuracy on the whole test split, when `finalTest` was asked for and the run completed. */
  testAccuracy: number | null;
  /** The same with its split, sample count and 95 % interval. */
  test: AccuracyEstimate | null;
}

export async function runTraining(opts: RunTrainingOptions): Promise<RunTrainingResult> {
  const lock = await opts.store.acquireOwner(opts.runId);
  try {
    return await trainOwnedRun(opts);
  } finally {
    await lock.release();
  }
}

async function trainOwnedRun(opts: RunTrainingOptions): Promise<RunTrainingResult> {
  const { store, runId, emit } = opts;
  const record: RunRecord = await store.readRecord(runId);
  if (record.summary.status === 'completed') {
    // e.g. the loser of two resumes that got the lock after the winner finished: nothing to do.
    emit({ kind: 'log', runId, level: 'error', message: `run "${runId}" has already completed` });
    return { summary: record.summary, result: null, testAccuracy: null, test: null };
  }
  const setSummary = async (patch: Partial<RunSummary>, write = true) => {
    record.summary = { ...record.summary, ...patch };
    if (write) await store.writeRecord(record);
    emit({ kind: 'status', runId, summary: record.summary });
  };
  try {
    await store.removeStaleTempFiles(runId);
    const cfg = record.config;
    const backend = await selectBackend(cfg.backend === 'auto' ? (opts.backend ?? 'auto') : cfg.backend);
    record.backend = backend;
    const ds = await loadDataset(cfg.data, { input: cfg.space.input });
    const misfit = checkDatasetFitsInput(ds, cfg.space.input, cfg.space.numClasses);
    if (misfit) throw new Error(misfit);
    const ckpt = opts.resume
      ? await store.loadLatestCheckpoint(runId, (message) => emit({ kind: 'log', runId, level: 'warn', message }))
      : null;
    // The strategy's network (few-shot: sub-supernets, rebuilt from the checkpoint's split tree).
    const net = buildRunSupernet(cfg, ckpt?.meta.strategyState);
    try {
      if (!ckpt && cfg.upcycleFrom?.length) {
        const r = await upcycleFromRuns(net, store, cfg.upcycleFrom, (message) => emit({ kind: 'log', runId, level: 'warn', message }));
        emit({ kind: 'log', runId, level: 'info', message: `upcycled from ${cfg.upcycleFrom.join(', ')}: ${r.copied.length} expert arrays copied, ${r.averaged.length} averaged, ${r.fresh.length} fresh (routers)` });
      }
      await store.truncateMetrics(runId, ckpt?.meta.step ?? 0);
      await setSummary({
        status: 'running',
        backend: backend.name,
        device: backend.device,
        step: ckpt?.meta.step ?? 0,
        error: undefined,
      });
      emit({ kind: 'log', runId, level: 'info', message: ckpt ? `resuming from step ${ckpt.meta.step}` : `training on ${backend.device}` });
      const result = await train({
        config: cfg,
        net,
        dataset: ds,
        resume: ckpt,
        signal: opts.signal,
        onStep: opts.onStep,
        onWarning: (message) => emit({ kind: 'log', runId, level: 'warn', message }),
        sink: {
          metrics: async (points) => {
            await store.appendMetrics(runId, points);
            const last = points[points.length - 1]!;
            record.summary.step = last.step;
            record.summary.lastLoss = last.loss;
            record.summary.lastAccuracy = last.accuracy;
            for (const p of points) {
              if (p.valAccuracy !== undefined && (record.summary.bestValAccuracy ?? -1) < p.valAccuracy) {
                record.summary.bestValAccuracy = p.valAccuracy;
              }
            }
            emit({ kind: 'metrics', runId, points });
          },
          specialization: async (data) => {
            await store.writeSpecialization(runId, data);
            emit({ kind: 'specialization', runId, data });
          },
          checkpoint: async (c) => {
            await store.writeCheckpoint(runId, c);
            await setSummary({ step: c.meta.step, bestValAccuracy: c.meta.bestValAccuracy });
          },
        },
      });
      let test: AccuracyEstimate | null = null;
      let finalVal: AccuracyEstimate | null = result.final?.val ?? null;
      let finalTokens: RunSummary['finalTokens'];
      if (result.status === 'completed') {
        // The run's validation figure: the whole validation split once at the end (the curve scores
        // VALIDATION_SAMPLES of it per point), and for a final report the whole test split. The
        // supernet's BatchNorm statistics are a mix of subnets: re-estimate them for this one first.
        const bn = evaluationBatchNormBatches(cfg, ds.train, ds.inputShape);
        try {
          [finalVal, test] = await withSubnetBatchNorm(net, result.evalArch, bn, async () => {
            const v = await evaluateArch(net, result.evalArch, ds.val, { inputShape: ds.inputShape });
            if (ds.tokens) {
              const s = tokenScores(v.loss * v.samples, v.samples);
              const base = ds.tokens.unigramBaseline;
              finalTokens = { split: 'val', bitsPerToken: s.bitsPerToken, perplexity: s.perplexity, n: s.n, ...(base ? { unigramBitsPerToken: base.bitsPerChar } : {}) };
            }
            const e = opts.finalTest ? await evaluateArch(net, result.evalArch, ds.test, { inputShape: ds.inputShape }) : null;
            return [accuracyEstimate('val', v.accuracy, v.samples), e ? accuracyEstimate('test', e.accuracy, e.samples) : null] as const;
          });
        } finally {
          bn.forEach((t) => t.dispose());
        }
      }
      await setSummary({
        status: result.status,
        step: result.step,
        ...(finalVal ? { finalVal } : {}),
        ...(finalTokens ? { finalTokens } : {}),
        ...(test ? { test } : {}),
      });
      return { summary: record.summary, result, testAccuracy: test?.accuracy ?? null, test };
    } finally {
      net.dispose();
    }
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    emit({ kind: 'log', runId, level: 'error', message });
    await setSummary({ status: 'failed', error: message });
    return { summary: record.summary, result: null, testAccuracy: null, test: null };
  }
}
