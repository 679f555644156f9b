/**
 * The training loop for a weight-sharing supernet.
 *
 * Which subnets a step trains is the strategy's choice (core/train/strategies/, registered in registry.ts);
 * the loop sums their gradients into one update and calls the strategy's optional hooks (structural edits
 * before a step, batch sampling, per-subnet losses such as inplace distillation, per-subnet gradients; the
 * order is in TrainingStrategy.ts). The strategy's state is saved with every checkpoint.
 *
 * Every step resolves its numbers (loss, accuracy, per-MoE-layer ExpertLoad) before they leave, batches
 * them at 5–20 Hz through MetricBatcher, and yields to the event loop at each release so a stop request
 * or an IPC message gets through. An aborted signal ends the loop at the next step boundary with a
 * checkpoint. Everything a resume needs is in the checkpoint: variables, optimizer slots and counters,
 * the sampler's RNG state, the data iterator's state and the elapsed time.
 */
import * as tf from '@tensorflow/tfjs';
import { BatchIterator, type Batch, type BatchIteratorState } from '../data/BatchIterator.js';
import { pickSamples, type Dataset } from '../data/Dataset.js';
import type { Supernet } from '../nn/types.js';
import type { AccuracyEstimate, ExpertLoad, MetricPoint, Specialization, TrainConfig } from '../protocol/protocol.js';
import { encodeArch, largestArch, smallestArch, validateArch } from '../space/archCodec.js';
import { createRng } from '../space/rng.js';
import type { Arch } from '../space/SearchSpace.js';
import type { Checkpoint, NamedArray } from './checkpointFormat.js';
import { accuracyEstimate, accuracyInterval } from '../protocol/accuracyInterval.js';
import { evaluationBatchNormBatches, withSubnetBatchNorm } from './batchNorm.js';
import { correctCount, crossEntropy, evaluateArch, weightedCrossEntropy } from './evaluate.js';
import { clipByGlobalNorm, learningRateAt, tokenCrossEntropy, tokenScores } from './languageModel.js';
import { IGNORE_TARGET } from '../data/DatasetContract.js';
import { MetricBatcher, type Clock } from './MetricBatcher.js';
import { CompiledTraining, compiledStepBlocker } from './compiledTraining.js';
import { PathOptimizer, type PathOptimizerState } from './PathOptimizer.js';
import { routingMetrics } from './routingMetrics.js';
import { probeTopExperts, routingFluctuation } from './routingFluctuation.js';
import { computeSpecialization } from './specialization.js';
import { trainingStrategy } from './strategies/registry.js';
import type { StrategyContext, SubnetLoss, TrainingStrategy } from './strategies/TrainingStrategy.js';
import { describeBlock } from '../space/blocks/registry.js';

// The collapse alarm and the routing metrics live in ./routingMetrics.ts (re-exported for existing callers).
export { EXPERT_COLLAPSE_THRESHOLD } from './routingMetrics.js';
/**
 * Validation samples scored at each validation (the first ones of the validation split, which is a
 * seeded random subset of the training set; the test split is scored only for final reports).
 */
export const VALIDATION_SAMPLES = 1000;
/** Token datasets validate on about this many tokens per point (whole sequences): 1000 sequences of 64 would be 64k. */
export const VALIDATION_TOKENS = 16384;
/** Specialization snapshots per run (evenly spaced, plus one at the end). */
export const SPECIALIZATION_SNAPSHOTS = 5;
/** Smoothing of the step time used for the ETA. */
const STEP_MS_EMA = 0.1;

export interface TrainerSink {
  metrics(points: MetricPoint[]): void | Promise<void>;
  specialization(s: Specialization): void | Promise<void>;
  checkpoint(c: Checkpoint): void | Promise<void>;
}

export interface TrainerOptions {
  config: TrainConfig;
  net: Supernet;
  dataset: Dataset;
  sink: TrainerSink;
  signal?: AbortSignal;
  /** Milliseconds; injected so tests are deterministic. */
  now?: Clock;
  /** Continue from this checkpoint (variables are loaded into `net` here). */
  resume?: Checkpoint | null;
  /** Called after every step (progress bars). */
  onStep?: (p: MetricPoint) => void;
  /** Override of SPECIALIZATION_SNAPSHOTS (0 = none). */
  snapshots?: number;
  /** Warnings worth showing the user (published as RunEvent 'log'). */
  onWarning?: (message: string) => void;
  /** Run eligible steps as compiled WebGPU programs (core/train/compiledTraining.ts); default true on webgpu. */
  compiledStep?: boolean;
  /** A strategy module instead of the registry's `config.strategy` (tests of the hooks). */
  strategy?: TrainingStrategy;
}

export interface TrainResult {
  status: 'completed' | 'stopped';
  step: number;
  elapsedSec: number;
  lastLoss: number | null;
  lastAccuracy: number | null;
  bestValAccuracy: number | null;
  /** Validation of the evaluated subnet at the last step. */
  final: { valLoss: number; valAccuracy: number; val: AccuracyEstimate } | null;
  /** The subnet validation and snapshots use: config.arch / the largest. */
  evalArch: Arch;
}

interface CheckpointOptimizerMeta {
  optimizer: PathOptimizerState;
}

/** What the plain strategy trains and what validation scores. */
export function evaluationArch(config: TrainConfig): Arch {
  if (config.arch) {
    const issues = validateArch(config.space, config.arch);
    if (issues.length) throw new Error(`config.arch: ${issues[0]!.path}: ${issues[0]!.message}`);
    return config.arch;
  }
  return largestArch(config.space);
}

/** Snapshot every variable's values by stable name (binary-exact). */
export function readVariables(net: Supernet): NamedArray[] {
  const out: NamedArray[] = [];
  for (const [name, v] of net.namedVariables()) {
    const dtype = v.dtype === 'int32' ? 'int32' : 'float32';
    const data = v.dataSync();
    out.push({ name, shape: v.shape.slice(), dtype, data: dtype === 'int32' ? Int32Array.from(data) : Float32Array.from(data) });
  }
  return out;
}

/** Load checkpointed values into a supernet; every variable must be present with its shape. */
/**
 * Variables that later versions added to existing block types (MoE++ constant-expert gates, the measured
 * FFN use behind FLOPs). A checkpoint written before them keeps them at their initial values: for
 * `constGate` that is near-uniform mixing, for `ffnUse` "not measured yet" — both what a new run starts with.
 */
const ADDED_LATER = /\.moe\.(constGate|ffnUse)$/;

/** Load a checkpoint's variables; returns the names of later-added variables it did not have. */
export function loadVariables(net: Supernet, arrays: NamedArray[]): string[] {
  const byName = new Map(arrays.map((a) => [a.name, a]));
  const absent: string[] = [];
  for (const [name, v] of net.namedVariables()) {
    const a = byName.get(name);
    if (!a && ADDED_LATER.test(name)) {
      absent.push(name);
      continue;
    }
    if (!a) throw new Error(`checkpoint has no value for variable "${name}"`);
    if (a.shape.length !== v.shape.length || a.shape.some((d, i) => d !== v.shape[i])) {
      throw new Error(`checkpoint shape [${a.shape}] of "${name}" does not match the supernet's [${v.shape}]`);
    }
    tf.tidy(() => v.assign(tf.tensor(a.data, a.shape, v.dtype)));
  }
  return absent;
}

/**
 * The RNG that picks each step's subnet: its own stream derived from the run's seed, apart from the
 * data order's, so changing the batch size does not change the sequence of sampled subnets.
 */
export function createSampler(config: Pick<TrainConfig, 'seed'>) {
  return createRng((config.seed * 2654435761) ^ 0x5a5a5a5a);
}

const yieldToEventLoop = () => new Promise<void>((r) => setImmediate(r));

export async function train(opts: TrainerOptions): Promise<TrainResult> {
  const { config, net, dataset: ds, sink } = opts;
  const now = opts.now ?? (() => performance.now());
  const space = config.space;
  const evalArch = evaluationArch(config);
  const variables = net.namedVariables();
  const trainable = net.trainableVariables();
  const optimizer = new PathOptimizer(config.optimizer, config.learningRate, variables);
  // WebGPU: eligible steps as compiled programs (./compiledTraining.ts); opts.compiledStep false turns it off.
  const compiled = opts.compiledStep === false || tf.getBackend() !== 'webgpu' ? null : new CompiledTraining(net, optimizer, ds.inputShape.reduce((a, b) => a * b, 1), opts.onWarning);
  const sampler = createSampler(config);
  const strategy = opts.strategy ?? trainingStrategy(config.strategy);
  let strategyState: unknown = undefined;
  let iterState: BatchIteratorState | undefined;
  let step = 0;
  let elapsedBefore = 0;
  let bestValAccuracy: number | null = null;
  if (opts.resume) {
    const r = opts.resume;
    loadVariables(net, r.variables);
    optimizer.setState((r.meta.optimizer as CheckpointOptimizerMeta).optimizer, r.optimizerSlots);
    sampler.setState(r.meta.samplerRngState);
    iterState = r.meta.data;
    step = r.meta.step;
    elapsedBefore = r.meta.elapsedSec;
    bestValAccuracy = r.meta.bestValAccuracy;
    if (r.meta.strategyState !== undefined) strategyState = structuredClone(r.meta.strategyState);
  }
  if (strategyState === undefined && strategy.init) {
    strategyState = strategy.init({ space, steps: config.steps, batchSize: config.batchSize, trainSamples: ds.train.n, net });
  }
  const batches = new BatchIterator(ds.train, config.batchSize, config.seed + 1, iterState);
  const fixedLargest = largestArch(space);
  const fixedSmallest = smallestArch(space);
  const snapshots = opts.snapshots ?? SPECIALIZATION_SNAPSHOTS;
  const snapshotEvery = snapshots > 0 ? Math.max(1, Math.floor(config.steps / snapshots)) : Infinity;
  const wantsSnapshots = snapshots > 0;

  const outbox: MetricPoint[] = [];
  const batcher = new MetricBatcher<MetricPoint>((b) => outbox.push(...b), now);
  const drain = async () => {
    if (outbox.length === 0) return;
    const points = outbox.splice(0, outbox.length);
    await sink.metrics(points);
  };

  const start = now();
  const elapsed = () => elapsedBefore + (now() - start) / 1000;
  let emaStepMs: number | null = null;
  let lastLoss: number | null = null;
  let lastAccuracy: number | null = null;
  let final: TrainResult['final'] = null;

  const saveCheckpoint = async () => {
    batcher.flush();
    await drain();
    // Download variables and optimizer slots first: the synchronous reads below then hit tfjs' host
    // cache, which is what makes them work on WebGPU under Node (no synchronous read-back there).
    await Promise.all([...net.namedVariables().values()].map((v) => v.data()));
    await optimizer.prefetchSlots();
    const opt = optimizer.getState();
    await sink.checkpoint({
      meta: {
        step,
        elapsedSec: elapsed(),
        samplerRngState: sampler.getState(),
        data: batches.getState(),
        optimizer: { optimizer: opt.state } satisfies CheckpointOptimizerMeta,
        bestValAccuracy,
        // A copy: the strategy keeps mutating its state after the save.
        ...(strategyState === undefined ? {} : { strategyState: structuredClone(strategyState) }),
      },
      variables: readVariables(net),
      optimizerSlots: opt.slots,
    });
  };

  const strategyContext = (): StrategyContext => ({
    space, rng: sampler, evalArch, largest: fixedLargest, smallest: fixedSmallest, step, steps: config.steps, progress: step / config.steps, state: strategyState,
  });
  // Stable variable names for the per-subnet gradient hook.
  const nameOf = new Map([...variables].map(([n, v]) => [v, n] as const));

  // A supernet's BatchNorm running statistics mix all the subnets it trained: validation re-estimates
  // them for the evaluated subnet (and restores them), as search and export do. One fixed subnet
  // ('plain') has its own statistics already.
  const bnBatches = evaluationBatchNormBatches(config, ds.train, ds.inputShape);
  // Each validation also routes the fixed fluctuation probe (./routingFluctuation.ts) with the same statistics.
  const validate = () =>
    withSubnetBatchNorm(net, evalArch, bnBatches, async () => ({
      ...(await evaluateArch(net, evalArch, ds.val, {
        limit: ds.tokens ? Math.max(1, Math.floor(VALIDATION_TOKENS / ds.tokens.seqLen)) : VALIDATION_SAMPLES,
        inputShape: ds.inputShape,
      })),
      probe: hasMoE(space) ? await probeTopExperts(net, evalArch, ds.val, ds.inputShape) : null,
    }));
  let lastProbe: Map<string, Int32Array> | null = null;
  let warnedLoad = false;
  let status: TrainResult['status'] = 'completed';
  try {
    while (step < config.steps) {
      if (opts.signal?.aborted) {
        status = 'stopped';
        break;
      }
      const t0 = now();
      const ctx = strategyContext();
      await strategy.beforeStep?.(ctx, { net, optimizer, train: ds.train, inputShape: ds.inputShape, batchSize: config.batchSize });
      const pick = strategy.sampleBatch?.(ctx, ds.train.n, config.batchSize) ?? null;
      const batch = pick ? pickBatch(ds.train, pick.indices) : batches.next();
      const progress = step / config.steps;
      const xs = tf.tensor(batch.x, [batch.size, ...ds.inputShape]);
      // Token datasets: one target per position (the head's B·T rows), IGNORE_TARGET where unscored.
      const targets = batch.targets;
      const ys = tf.tensor1d(targets ?? batch.y, 'int32');
      const scored = targets ? targets.reduce((n, t) => n + (t === IGNORE_TARGET ? 0 : 1), 0) : batch.size;
      const { arches, reported, weights: subnetWeights, teacher } = await strategy.plan(ctx, { net, xs, ys });
      // WebGPU: a one-subnet step with the plain loss runs as one recorded program (./compiledTraining.ts).
      let all: Float32Array | Int32Array | Uint8Array;
      let subnetsRead = arches.length;
      let moeLayout: MoELayout[] = [];
      const blocker = compiled ? compiledStepBlocker({ arches, subnetWeights, strategy, gradClip: config.gradClip, sampleWeighted: !!pick?.weights }) : 'off';
      if (config.lrSchedule) {
        const s = config.lrSchedule;
        optimizer.learningRate = learningRateAt(step, { base: config.learningRate, warmupSteps: s.warmupSteps, totalSteps: config.steps, minRatio: s.minRatio });
      }
      const fast = blocker === null ? await compiled!.step(arches[0]!, batch.x, targets ?? batch.y, progress) : null;
      if (fast) {
        all = fast.packed;
        moeLayout = fast.moe.map((m) => ({ layer: m.layer, expertNames: m.expertNames, alwaysOn: m.alwaysOn }));
        tf.dispose([xs, ys, ...(teacher ? [teacher] : [])]);
      } else {
        const sampleWeights = pick?.weights ? tf.tensor1d(pick.weights) : null;
        // Each subnet's logits, kept for the loss hook of the subnets after it (inplace distillation from the
        // largest); a later subnet's tape sees them as constants, so they are detached there.
        const earlier: tf.Tensor2D[] = [];
        const summed = new Map<tf.Variable, tf.Tensor>();
        // Each subnet's numbers are packed into one tensor and all are read with a single (asynchronous:
        // WebGPU under Node cannot read synchronously) read after the update: one device→host transfer per
        // step (it matters on WebGPU).
        const packed: tf.Tensor[] = [];
        for (let a = 0; a < arches.length; a++) {
          const arch = arches[a]!;
          const { value, grads } = tf.variableGrads(() => {
            const out = net.apply(xs, arch, { training: true, progress });
            const tokens = targets ? tokenCrossEntropy(out.logits, ys) : null;
            const ce = tokens ? tokens.mean : sampleWeights ? weightedCrossEntropy(out.logits, ys, sampleWeights) : crossEntropy(out.logits, ys);
            const objective: SubnetLoss = strategy.loss
              ? strategy.loss({ index: a, arch, logits: out.logits, labels: ys, sampleWeights, taskLoss: ce, earlier, ...(teacher ? { teacher } : {}) }, ctx)
              : { total: ce };
            // NaN: this subnet has no distillation loss.
            const parts: tf.Tensor[] = [ce, tokens ? tokens.correct : correctCount(out.logits, ys), objective.kd ?? tf.scalar(NaN)];
            if (a === 0) {
              moeLayout = out.moe.map((m) => ({ layer: m.layer, expertNames: m.expertNames, alwaysOn: m.alwaysOn ?? [] }));
              for (const m of out.moe) parts.push(m.load, m.dropped, m.entropy, m.auxLoss ?? tf.scalar(NaN), m.meanActive); // NaN: no balance loss (expert choice)
            }
            packed.push(tf.keep(tf.concat(parts.map((t) => tf.cast(t, 'float32').reshape([-1])))));
            earlier.push(tf.keep(out.logits));
            const total = tf.add(objective.total, out.auxLoss) as tf.Scalar;
            const w = subnetWeights?.[a] ?? 1;
            return w === 1 ? total : (tf.mul(total, w) as tf.Scalar);
          }, trainable);
          value.dispose();
          if (strategy.afterSubnet) {
            const byName = new Map<string, tf.Tensor>();
            for (const v of trainable) if (grads[v.name]) byName.set(nameOf.get(v) ?? v.name, grads[v.name]!);
            await strategy.afterSubnet({ index: a, arch, grads: byName, logits: earlier[a]!, labels: ys, indices: pick?.indices ?? null }, ctx);
          }
          for (const v of trainable) {
            const g = grads[v.name];
            if (!g) continue;
            const prev = summed.get(v);
            if (prev) {
              summed.set(v, tf.add(prev, g));
              prev.dispose();
              g.dispose();
            } else summed.set(v, g);
          }
        }
        if (strategy.adjustGradients) {
          // The strategy's edit of the summed gradient (SuperTickets: pruned weights get none, so the lazy
          // optimizer leaves them at exactly zero).
          const byName = new Map([...summed].map(([v, g]) => [nameOf.get(v) ?? v.name, g] as const));
          const adjusted = strategy.adjustGradients(byName, ctx);
          for (const [v, g] of summed) {
            const next = adjusted.get(nameOf.get(v) ?? v.name);
            if (next === g) continue;
            g.dispose();
            if (next) summed.set(v, next);
            else summed.delete(v);
          }
        }
        if (config.gradClip !== undefined) {
          const clipped = clipByGlobalNorm(summed, config.gradClip);
          clipped.norm.dispose();
          summed.clear();
          for (const [v, g] of clipped.grads) summed.set(v, g);
        }
        optimizer.apply(summed);
        tf.dispose([...summed.values(), xs, ys, ...earlier, ...(teacher ? [teacher] : [])]);
        sampleWeights?.dispose();
        const joined = tf.concat(packed);
        all = await joined.data();
        subnetsRead = packed.length;
        tf.dispose([joined, ...packed]);
      }
      const { loss: lossSum, correct: correctSum, kd, moe } = unpackStep(all, subnetsRead, moeLayout);
      const lossMean = lossSum / arches.length;
      const accMean = correctSum / (scored * arches.length);
      if (!warnedLoad) {
        const bad = moe.find((l) => Math.abs(l.load.reduce((x, y) => x + y, 0) - 1) > 0.05);
        if (bad) {
          warnedLoad = true;
          opts.onWarning?.(
            `MoE layer ${bad.layer}: expert loads sum to ${bad.load.reduce((x, y) => x + y, 0).toPrecision(3)}, not 1; ` +
              `the ${tf.getBackend()} backend may be computing the routing mask wrongly`,
          );
        }
      }
      step++;

      const stepMs = now() - t0;
      emaStepMs = emaStepMs === null ? stepMs : emaStepMs + STEP_MS_EMA * (stepMs - emaStepMs);
      lastLoss = lossMean;
      lastAccuracy = accMean;
      const point: MetricPoint = {
        step,
        time: elapsed(),
        loss: lastLoss,
        accuracy: lastAccuracy,
        stepMs,
        samplesPerSec: stepMs > 0 ? (config.batchSize * arches.length * 1000) / stepMs : 0,
        etaSec: ((config.steps - step) * emaStepMs) / 1000,
      };
      if (config.strategy !== 'plain') point.archVector = encodeArch(space, arches[reported]!);
      if (kd !== null) point.kdLoss = kd;
      if (moe.length) point.moe = moe;
      if (step % config.evalEvery === 0 || step === config.steps) {
        const v = await validate();
        // Routing fluctuation: the probe tokens whose top expert changed since the previous validation.
        for (const l of point.moe ?? []) {
          const a = lastProbe?.get(l.layer);
          const b = v.probe?.get(l.layer);
          const f = a && b ? routingFluctuation(a, b) : NaN;
          if (Number.isFinite(f)) l.fluctuation = f;
        }
        if (v.probe) lastProbe = v.probe;
        point.valLoss = v.loss;
        point.valAccuracy = v.accuracy;
        point.valSamples = v.samples;
        point.valCi95 = accuracyInterval(Math.round(v.accuracy * v.samples), v.samples);
        if (ds.tokens) {
          const scores = tokenScores(v.loss * v.samples, v.samples);
          point.valBitsPerToken = scores.bitsPerToken;
          point.valPerplexity = scores.perplexity;
        }
        final = { valLoss: v.loss, valAccuracy: v.accuracy, val: accuracyEstimate('val', v.accuracy, v.samples) };
        if (bestValAccuracy === null || v.accuracy > bestValAccuracy) bestValAccuracy = v.accuracy;
        if (strategy.report) point.strategy = strategy.report(strategyContext());
      }
      opts.onStep?.(point);
      if (batcher.push(point)) {
        await drain();
        await yieldToEventLoop();
      }
      if (wantsSnapshots && (step % snapshotEvery === 0 || step === config.steps) && (hasMoE(space) || ds.bounds)) {
        await sink.specialization(await computeSpecialization(net, evalArch, ds, step));
      }
      if (step % config.checkpointEvery === 0 && step < config.steps) await saveCheckpoint();
    }
    await saveCheckpoint();
  } finally {
    batcher.flush();
    await drain();
    compiled?.dispose();
    optimizer.dispose();
    tf.dispose(bnBatches);
  }
  return { status, step, elapsedSec: elapsed(), lastLoss, lastAccuracy, bestValAccuracy, final, evalArch };
}

function hasMoE(space: TrainConfig['space']): boolean {
  return space.stages.some((s) => describeBlock(s.block).routesTokens?.(s.block) ?? false);
}

/** Where one MoE layer's numbers sit in a step's packed read. */
interface MoELayout {
  layer: string;
  expertNames: string[];
  alwaysOn: number[];
}

/** The samples at `indices` of the training split as one batch (a strategy's `sampleBatch`). */
function pickBatch(split: Dataset['train'], indices: readonly number[]): Batch {
  const bad = indices.find((j) => !(Number.isInteger(j) && j >= 0 && j < split.n));
  if (bad !== undefined) throw new Error(`sampleBatch: index ${bad} is outside the training split (0..${split.n - 1})`);
  const { x, y, n, targets, groups } = pickSamples(split, indices);
  return { x, y, size: n, ...(targets ? { targets } : {}), ...(groups ? { groups } : {}) };
}

/**
 * Unpack one step's numbers: per subnet [loss, correct, kd (NaN: none)] and, after the first subnet's
 * triple, its MoE layers as [load × slots, dropped, entropy, auxLoss, meanActive] each.
 */
function unpackStep(
  v: Float32Array | Int32Array | Uint8Array,
  subnets: number,
  layout: MoELayout[],
): { loss: number; correct: number; kd: number | null; moe: ExpertLoad[] } {
  let o = 0;
  let loss = 0;
  let correct = 0;
  let kdSum = 0;
  let kdCount = 0;
  const moe: ExpertLoad[] = [];
  for (let a = 0; a < subnets; a++) {
    loss += v[o++]!;
    correct += v[o++]!;
    const kd = v[o++]!;
    if (!Number.isNaN(kd)) {
      kdSum += kd;
      kdCount++;
    }
    if (a > 0) continue;
    for (const l of layout) {
      const load = Array.from(v.subarray(o, o + l.expertNames.length));
      o += l.expertNames.length;
      const dropped = v[o++]!;
      const entropy = v[o++]!;
      const auxLoss = Number.isNaN(v[o]!) ? (o++, null) : v[o++]!;
      const meanActive = v[o++]!;
      const m = routingMetrics({ load, alwaysOn: l.alwaysOn, dropped, meanActive });
      moe.push({ layer: l.layer, load, expertNames: l.expertNames, dropped, entropy, auxLoss, meanActive, collapse: m.collapse, cv: m.cv, deadFraction: m.deadFraction, diversity: m.diversity, ...(m.collapse ? { collapseReason: m.collapseReason } : {}) });
    }
  }
  // kd: the mean distillation loss over the subnets that have one (null: none has).
  return { loss, correct, kd: kdCount ? kdSum / kdCount : null, moe };
}
