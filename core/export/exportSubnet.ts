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
import { recalibrateBatchNorm, subnetWeights } from '../nn/Supernet.js';
import { readVariablesForSlicing } from '../nn/moe/MoELayer.js';
import { ExportRequest, parseOrThrow, ProtocolError, type ExportResult, type RunRecord } from '../protocol/protocol.js';
import { archKey, describeArch, encodeArch, validateArch } from '../space/archCodec.js';
import { createRng } from '../space/rng.js';
import type { Arch, SearchSpace } from '../space/SearchSpace.js';
import { restoreSupernet } from '../train/restoreSupernet.js';
import { evaluateArch } from '../train/evaluate.js';
import { encodeOnnxGraph } from './onnxExport.js';
import { inputShapeOf, type SubnetGraph } from './subnetGraph.js';
import { subnetGraphFromLayers } from './subnetGraphFromLayers.js';
import { buildLayersModel, fileModelHandler, saveLayersModel, TFJS_FILES, UnsupportedExportError } from './tfjsExport.js';

export const EXPORT_FILES = {
  onnx: 'model.onnx',
  arch: 'arch.json',
  card: 'card.json',
  cardMd: 'MODEL_CARD.md',
  tfjsDir: 'tfjs',
} as const;

/** Tolerance the equality check is held to (float32 through different kernels and summation orders). */
export const EXPORT_TOLERANCE = 1e-3;

export interface ExportOptions {
  runsDir: string;
  signal?: AbortSignal;
  /** Test samples scored for the model card's accuracy (0 skips scoring). */
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
  const data = Float32Array.from({ length: n * sampleSize(shape) }, () => rng.normal());
  return tf.tensor(data, [n, ...shape]);
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
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
  const graph = subnetGraphFromLayers(space.input, space.numClasses, subnetWeights(net, arch));
  const checkX = opts.checkX ?? randomCheckBatch(space);
  // Async reads: WebGPU under Node has no synchronous read-back.
  const reference = await readAndDispose(tf.tidy(() => net.apply(checkX, arch, { training: false, progress: 1 }).logits));
  const files: string[] = [];
  const diffs: ExportDetails['diffs'] = {};
  const now = (opts.now ?? (() => new Date()))();

  const skipped: Record<string, string> = {};
  let model: tf.LayersModel | null = null;
  if (opts.formats.includes('tfjs')) {
    try {
      model = buildLayersModel(graph);
    } catch (e) {
      if (!(e instanceof UnsupportedExportError)) throw e;
      skipped.tfjs = e.message;
    }
  }
  if (model) {
    opts.signal?.throwIfAborted();
    const tfjsDir = join(dir, EXPORT_FILES.tfjsDir);
    files.push(...(await saveLayersModel(model, tfjsDir)));
    model.dispose();
    // Check what a user gets: the files on disk, loaded by plain tf.loadLayersModel.
    const loaded = await tf.loadLayersModel(fileModelHandler(join(tfjsDir, TFJS_FILES.model)));
    const out = await readAndDispose(tf.tidy(() => loaded.predict(checkX) as tf.Tensor));
    loaded.dispose();
    diffs.tfjs = maxAbsDiff(out, reference);
  }
  if (opts.formats.includes('onnx')) {
    opts.signal?.throwIfAborted();
    const bytes = encodeOnnxGraph(graph, {
      docString: `Switchyard subnet ${describeArch(space, arch)}`,
      metadata: { runId: opts.runId ?? '', arch: JSON.stringify(arch), space: space.name },
    });
    const file = join(dir, EXPORT_FILES.onnx);
    await writeFile(file, bytes);
    files.push(file);
    const ort = await import('onnxruntime-node');
    const session = await ort.InferenceSession.create(await readFile(file));
    const feeds = { input: new ort.Tensor('float32', Float32Array.from(await checkX.data()), checkX.shape) };
    const out = (await session.run(feeds)).logits!.data as Float32Array;
    await session.release();
    diffs.onnx = maxAbsDiff(out, reference);
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
    `Input: ${card.space.input.kind === 'vector' ? `vector of ${card.space.input.dim}` : `image ${card.space.input.height}×${card.space.input.width}×${card.space.input.channels} (NHWC)`}; output: ${card.space.numClasses} logits (apply softmax for probabilities).`,
    '',
    '## Metrics',
    '',
    '| metric | value |',
    '| --- | --- |',
    ...Object.entries(card.metrics).map(([k, v]) => `| ${k} | ${k === 'accuracy' ? `${(v * 100).toFixed(2)} %` : fmt(v)} |`),
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
  const runDir = join(opts.runsDir, req.runId);
  const { net, record } = await restoreSupernet(runDir).catch((e: unknown) => {
    throw new ProtocolError('not_found', e instanceof Error ? e.message : String(e));
  });
  try {
    const now = (opts.now ?? (() => new Date()))();
    const outDir = req.outDir ?? join(runDir, 'exports', now.toISOString().replace(/[:.]/g, '-'));
    const { checkX, test, train } = await checkData(record, net.space);
    // The checkpoint's BN statistics mix every subnet trained; re-estimate them for this one (OFA §3.3)
    // so the exported model and the card's accuracy are the subnet's own.
    if (train && hasBatchNorm(net.space)) {
      const batches = recalibrationBatches(train, inputShapeOf(net.space.input));
      recalibrateBatchNorm(net, req.arch, batches);
      tf.dispose(batches);
    }
    const metrics: Record<string, number> = {};
    const evalSamples = opts.evalSamples ?? 2000;
    if (test && evalSamples > 0) {
      const e = await evaluateArch(net, req.arch, test, { inputShape: inputShapeOf(net.space.input), limit: Math.min(evalSamples, test.n) });
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
        signal: opts.signal,
        now: () => now,
      });
      return { dir: r.dir, files: r.files, maxAbsDiff: r.maxAbsDiff };
    } finally {
      checkX?.dispose();
    }
  } finally {
    net.dispose();
  }
}

export function hasBatchNorm(space: SearchSpace): boolean {
  return space.stages.some((s) => s.block.type === 'conv' && s.block.batchNorm);
}

/** A few training batches for BatchNorm recalibration (OFA uses a couple of thousand images). */
export function recalibrationBatches(train: Split, shape: readonly number[], batches = 4, batchSize = 128): tf.Tensor[] {
  const per = sampleSize(shape);
  const out: tf.Tensor[] = [];
  for (let b = 0; b < batches && (b + 1) * batchSize <= Math.max(train.n, batchSize); b++) {
    const n = Math.min(batchSize, train.n - b * batchSize);
    if (n <= 0) break;
    out.push(tf.tensor(train.x.subarray(b * batchSize * per, (b * batchSize + n) * per), [n, ...shape]));
  }
  return out;
}

/** The first 64 test samples of the run's dataset as the check batch (synthetic inputs if it won't load). */
async function checkData(record: RunRecord, space: SearchSpace): Promise<{ checkX?: tf.Tensor; test?: Split; train?: Split }> {
  try {
    const ds = await loadDataset(record.config.data, { input: space.input });
    const shape = inputShapeOf(space.input);
    const n = Math.min(64, ds.test.n);
    const x = tf.tensor(ds.test.x.subarray(0, n * sampleSize(shape)), [n, ...shape]);
    return { checkX: x, test: ds.test, train: ds.train };
  } catch {
    return {};
  }
}

async function readAndDispose(t: tf.Tensor): Promise<Float32Array> {
  const data = Float32Array.from((await t.data()) as Float32Array);
  t.dispose();
  return data;
}
