/**
 * Export one subnet of a trained supernet as standalone models (tfjs LayersModel, ONNX), its arch.json
 * and a model card, and prove each export computes what the supernet path computes: every written model
 * is loaded back from disk (tf.loadLayersModel / onnxruntime-node) and run on a check batch of the run's
 * own test data; the largest |Δlogit| is reported.
 */
import * as tf from '@tensorflow/tfjs';
import type { z } from 'zod';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { loadDataset, sampleSize, type Split } from '../data/Dataset.js';
import type { Supernet } from '../nn/types.js';
import { recalibrateBatchNorm, subnetGraph } from '../nn/Supernet.js';
import { readVariablesForSlicing } from '../nn/moe/MoELayer.js';
import { accuracyEstimate, formatAccuracy } from '../protocol/accuracyInterval.js';
import { ExportRequest, parseOrThrow, ProtocolError, type AccuracyEstimate, type ExportResult, type RunRecord } from '../protocol/protocol.js';
import { archKey, describeArch, encodeArch, validateArch } from '../space/archCodec.js';
import { createRng } from '../space/rng.js';
import { describeInput, type Arch, type SearchSpace } from '../space/SearchSpace.js';
import { hasBatchNorm, recalibrationBatches } from '../train/batchNorm.js';
import { restoreSupernet } from '../train/restoreSupernet.js';
import { RunNotFoundError, RunStore } from '../train/RunStore.js';
import { evaluateArch } from '../train/evaluate.js';
import { inputShapeOf, type SubnetGraph } from '../nn/graph/evaluate.js';
import { UnsupportedGraphError } from '../nn/graph/passes.js';
import { graphWriters, WRITER_FILES, type WriterFormat } from './writers.js';

export const EXPORT_FILES = {
  ...WRITER_FILES,
  arch: 'arch.json',
  card: 'card.json',
  cardMd: 'MODEL_CARD.md',
} as const;

/** Tolerance the equality check is held to (float32 through different kernels and summation orders). */
export const EXPORT_TOLERANCE = 1e-3;

export interface ExportOptions {
  runsDir: string;
  /** Write here instead of <run>/exports/<name> (the CLI's --out: the local user's choice, never a client's). */
  outDir?: string;
  signal?: AbortSignal;
  /**
   * At most this many samples of each of the validation and test splits are scored for the model card
   * (default: all of both, so the card's test figure is the whole test split; 0 skips scoring).
   */
  evalSamples?: number;
  now?: () => Date;
}

export interface ExportFromNetOptions {
  formats: readonly ('tfjs' | 'onnx' | 'arch')[];
  outDir: string;
  /** Batch [N, ...inputShape] the exports are checked on (random normal inputs if absent). */
  checkX?: tf.Tensor;
  runId?: string;
  /** Backend the run was trained on (the card also names the backend the export was checked on). */
  trainedOn?: string;
  /** Extra metrics for the model card (e.g. accuracy). */
  metrics?: Record<string, number>;
  /** Accuracies with split, sample count and 95 % interval (validation, then test) for the card. */
  accuracy?: AccuracyEstimate[];
  signal?: AbortSignal;
  now?: () => Date;
}

export interface ExportDetails extends ExportResult {
  /** max |Δ| per format that was checked. */
  diffs: Partial<Record<'tfjs' | 'onnx', number>>;
  /** Formats that cannot express this subnet, with the reason (also in the model card). */
  skipped: Record<string, string>;
  graph: SubnetGraph;
}

function randomCheckBatch(space: SearchSpace, n = 32): tf.Tensor {
  const shape = inputShapeOf(space.input);
  const rng = createRng(12345);
  // A token input reads ids: integers below the vocabulary (a normal draw would be no token at all).
  const input = space.input;
  const data = Float32Array.from({ length: n * sampleSize(shape) }, () => (input.kind === 'tokens' ? rng.int(input.vocab) : rng.normal()));
  return tf.tensor(data, [n, ...shape]);
}

/** Largest |a_i − b_i|; Infinity when the lengths differ or any difference is NaN (a broken export never passes). */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m;
}

/** Export `arch` of an in-memory supernet (the run-free core of `exportSubnet`; tests use it directly). */
export async function exportSubnetFromNet(net: Supernet, arch: Arch, opts: ExportFromNetOptions): Promise<ExportDetails> {
  const space = net.space;
  const issues = validateArch(space, arch);
  if (issues.length > 0) {
    throw new ProtocolError('invalid', `invalid arch: arch.${issues[0]!.path}: ${issues[0]!.message}`, issues.map((i) => ({ ...i, path: `arch.${i.path}` })));
  }
  const dir = resolve(opts.outDir);
  await mkdir(dir, { recursive: true });
  await readVariablesForSlicing(net.namedVariables().values());
  const graph = subnetGraph(net, arch);
  const checkX = opts.checkX ?? randomCheckBatch(space);
  // Async reads: WebGPU under Node has no synchronous read-back.
  const reference = await readAndDispose(tf.tidy(() => net.apply(checkX, arch, { training: false, progress: 1 }).logits));
  const files: string[] = [];
  const diffs: ExportDetails['diffs'] = {};
  const now = (opts.now ?? (() => new Date()))();

  const skipped: Record<string, string> = {};
  // Each model format is a graph → files pass (./writers.ts), checked on the files it wrote.
  const meta = { description: `Switchyard subnet ${describeArch(space, arch)}`, metadata: { runId: opts.runId ?? '', arch: JSON.stringify(arch), space: space.name } };
  for (const format of Object.keys(graphWriters) as WriterFormat[]) {
    if (!opts.formats.includes(format)) continue;
    opts.signal?.throwIfAborted();
    try {
      const written = await graphWriters[format].write(graph, dir, meta);
      files.push(...written.files);
      diffs[format] = maxAbsDiff(await written.run(checkX), reference);
    } catch (e) {
      if (!(e instanceof UnsupportedGraphError)) throw e;
      skipped[format] = e.message;
    }
  }
  if (opts.formats.includes('arch')) {
    const file = join(dir, EXPORT_FILES.arch);
    await writeFile(file, JSON.stringify({ arch, vector: encodeArch(space, arch), key: archKey(arch), description: describeArch(space, arch) }, null, 2));
    files.push(file);
  }
  if (!opts.checkX) checkX.dispose();

  const checked = Object.values(diffs);
  const worst = checked.length > 0 ? Math.max(...checked) : undefined;
  const card = {
    runId: opts.runId ?? null,
    date: now.toISOString(),
    backend: tf.getBackend(),
    trainedOn: opts.trainedOn ?? null,
    space,
    arch,
    vector: encodeArch(space, arch),
    description: describeArch(space, arch),
    metrics: { params: net.countParams(arch), flops: net.countFlops(arch), ...(opts.metrics ?? {}) },
    accuracy: opts.accuracy ?? [],
    check: { samples: reference.length / space.numClasses, maxAbsDiff: diffs, tolerance: EXPORT_TOLERANCE },
    skipped,
    files: files.map((f) => f.slice(dir.length + 1)),
  };
  await writeFile(join(dir, EXPORT_FILES.card), JSON.stringify(card, null, 2));
  await writeFile(join(dir, EXPORT_FILES.cardMd), modelCardMarkdown(card));
  files.push(join(dir, EXPORT_FILES.card), join(dir, EXPORT_FILES.cardMd));
  if (worst !== undefined && !(worst <= EXPORT_TOLERANCE)) {
    throw new Error(`exported model differs from the supernet path by ${worst} (> ${EXPORT_TOLERANCE}); files kept in ${dir} for inspection`);
  }
  return { dir, files, maxAbsDiff: worst, diffs, skipped, graph };
}

function fmt(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  if (Math.abs(n) >= 1e6) return `${(n / 1e6).toFixed(2)} M`;
  if (Math.abs(n) >= 1e3) return `${(n / 1e3).toFixed(1)} k`;
  return Number.isInteger(n) ? String(n) : n.toPrecision(4);
}

function modelCardMarkdown(card: {
  runId: string | null;
  date: string;
  backend: string;
  trainedOn: string | null;
  space: SearchSpace;
  description: string;
  arch: Arch;
  metrics: Record<string, number>;
  accuracy: AccuracyEstimate[];
  check: { samples: number; maxAbsDiff: Record<string, number>; tolerance: number };
  skipped: Record<string, string>;
  files: string[];
}): string {
  const lines = [
    `# Model card: ${card.space.name} subnet`,
    '',
    `Exported by Switchyard on ${card.date} from run \`${card.runId ?? '(in-memory supernet)'}\`${card.trainedOn ? ` (trained on ${card.trainedOn})` : ''}; checked on the ${card.backend} backend.`,
    '',
    '## Architecture',
    '',
    `\`${card.description}\``,
    '',
    `Input: ${describeInput(card.space.input)}; output: ${card.space.numClasses} logits (apply softmax for probabilities).`,
    '',
    '## Metrics',
    '',
    '| metric | value |',
    '| --- | --- |',
    ...card.accuracy.map((a) => `| ${a.split === 'test' ? 'test accuracy' : 'validation accuracy'} | ${formatAccuracy(a)}, 95 % interval [${(a.ci95[0] * 100).toFixed(1)}, ${(a.ci95[1] * 100).toFixed(1)}] |`),
    ...Object.entries(card.metrics)
      .filter(([k]) => !/accuracy$/i.test(k))
      .map(([k, v]) => `| ${k} | ${fmt(v)} |`),
    '',
    'Subnets are selected on the validation split (held out of the training set); the test split is scored only here, for the final report.',
    '',
    '## Export check',
    '',
    `Each file was loaded back and run on ${card.check.samples} samples; largest |Δlogit| against the supernet path (tolerance ${card.check.tolerance}):`,
    '',
    ...Object.entries(card.check.maxAbsDiff).map(([k, v]) => `- ${k}: ${v.toExponential(2)}`),
    ...Object.entries(card.skipped).map(([k, v]) => `- ${k}: not exported — ${v}`),
    '',
    '## Files',
    '',
    ...card.files.map((f) => `- \`${f}\``),
    '',
    '## Use',
    '',
    '```js',
    "const model = await tf.loadLayersModel('tfjs/model.json'); // browser: an http(s) URL",
    "const session = await ort.InferenceSession.create('model.onnx'); // input 'input', output 'logits'",
    '```',
    '',
    'Weights are inherited from the supernet (weight sharing); fine-tuning the exported subnet usually adds accuracy.',
    '',
  ];
  return lines.join('\n');
}

/** The protocol's `export.subnet`: restore the run's supernet, export, check, write the card. */
export async function exportSubnet(reqIn: z.input<typeof ExportRequest>, opts: ExportOptions): Promise<ExportResult> {
  const req = parseOrThrow(ExportRequest, reqIn, 'export request');
  const runDir = runFolder(opts.runsDir, req.runId);
  const { net, record } = await restoreSupernet(runDir).catch((e: unknown) => {
    throw new ProtocolError('not_found', e instanceof Error ? e.message : String(e));
  });
  try {
    const now = (opts.now ?? (() => new Date()))();
    const outDir = opts.outDir ?? join(runDir, 'exports', req.name ?? now.toISOString().replace(/[:.]/g, '-'));
    const { checkX, val, test, train } = await checkData(record, net.space);
    // The checkpoint's BN statistics mix every subnet trained; re-estimate them for this one (OFA §3.3)
    // so the exported model and the card's accuracy are the subnet's own.
    if (train && hasBatchNorm(net.space)) {
      const batches = recalibrationBatches(train, inputShapeOf(net.space.input));
      recalibrateBatchNorm(net, req.arch, batches);
      tf.dispose(batches);
    }
    const metrics: Record<string, number> = {};
    const accuracy: AccuracyEstimate[] = [];
    const evalSamples = opts.evalSamples ?? Infinity;
    if (val && test && evalSamples > 0) {
      const inputShape = inputShapeOf(net.space.input);
      const v = await evaluateArch(net, req.arch, val, { inputShape, limit: Math.min(evalSamples, val.n) });
      const e = await evaluateArch(net, req.arch, test, { inputShape, limit: Math.min(evalSamples, test.n) });
      accuracy.push(accuracyEstimate('val', v.accuracy, v.samples), accuracyEstimate('test', e.accuracy, e.samples));
      metrics.valAccuracy = v.accuracy;
      metrics.accuracy = e.accuracy;
      metrics.loss = e.loss;
      metrics.evalSamples = e.samples;
    }
    try {
      const r = await exportSubnetFromNet(net, req.arch, {
        formats: req.formats,
        outDir,
        checkX,
        runId: req.runId,
        trainedOn: `${record.summary.backend}${record.summary.device ? ` (${record.summary.device})` : ''}`,
        metrics,
        accuracy,
        signal: opts.signal,
        now: () => now,
      });
      return { dir: r.dir, files: r.files, maxAbsDiff: r.maxAbsDiff, ...(accuracy.length ? { accuracy } : {}) };
    } finally {
      checkX?.dispose();
    }
  } finally {
    net.dispose();
  }
}

/** The run's folder, refusing ids that would step outside the runs folder (`../outside-run/evil`). */
export function runFolder(runsDir: string, runId: string): string {
  try {
    return new RunStore(runsDir).runDir(runId);
  } catch (e) {
    if (e instanceof RunNotFoundError) throw new ProtocolError('not_found', e.message, [{ path: 'runId', message: 'not a run id' }]);
    throw e;
  }
}

export { hasBatchNorm, recalibrationBatches };

/**
 * The run's splits, and its first 64 validation samples as the check batch (synthetic inputs if the
 * data won't load).
 */
async function checkData(record: RunRecord, space: SearchSpace): Promise<{ checkX?: tf.Tensor; val?: Split; test?: Split; train?: Split }> {
  try {
    const ds = await loadDataset(record.config.data, { input: space.input });
    const shape = inputShapeOf(space.input);
    const n = Math.min(64, ds.val.n);
    const x = tf.tensor(ds.val.x.subarray(0, n * sampleSize(shape)), [n, ...shape]);
    return { checkX: x, val: ds.val, test: ds.test, train: ds.train };
  } catch {
    return {};
  }
}

async function readAndDispose(t: tf.Tensor): Promise<Float32Array> {
  const data = Float32Array.from((await t.data()) as Float32Array);
  t.dispose();
  return data;
}
