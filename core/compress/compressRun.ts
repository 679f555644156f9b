/**
 * `compress.run`: a trained run's subnet through each compression method's sweep. The subnet graph is
 * lowered from the restored supernet (BatchNorm re-estimated for the subnet, as export does), every pass
 * calibrates on the first `calibSamples` validation samples, and each compressed graph is scored on the
 * rest of validation (selection) and on test (the final report), sized (params, bits as stored), timed,
 * and exported as ONNX checked in onnxruntime-node against the graph evaluator, with a card, into
 * <run>/exports/compress-<name>-<method>-<level>/ (so it downloads like any export). Results are written
 * to <run>/compress/<name>/compress.json, which `compress.list` reads for the run's Pareto view.
 */
import * as tf from '@tensorflow/tfjs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { z } from 'zod';
import { loadDataset } from '../data/Dataset.js';
import { EXPORT_TOLERANCE, maxAbsDiff, runFolder } from '../export/exportSubnet.js';
import { runSubnetGraph, inputShapeOf, type SubnetGraph } from '../nn/graph/evaluate.js';
import { recalibrateBatchNorm } from '../nn/Supernet.js';
import { accuracyEstimate } from '../protocol/accuracyInterval.js';
import { CompressRequest, CompressResult, parseOrThrow, ProtocolError, type AccuracyEstimate, type CompressPoint } from '../protocol/protocol.js';
import { measureGraphLatency, subnetGraph } from '../search/evaluateSubnet.js';
import { validateArch } from '../space/archCodec.js';
import { hasBatchNorm, recalibrationBatches } from '../train/batchNorm.js';
import { restoreSupernet } from '../train/restoreSupernet.js';
import type { CompressLevel, LayerReport } from './CompressionMethod.js';
import { compressGraph } from './compressGraph.js';
import { graphAccuracy, sliceTensor, type SplitSlice } from '../nn/graph/evaluate.js';
import { compressionMethods } from './registry.js';
import { onnxWriter } from '../export/writers.js';
import { graphSize } from './storage.js';

export const COMPRESS_FILE = 'compress.json';

export interface CompressRunOptions {
  runsDir: string;
  signal?: AbortSignal;
  now?: () => Date;
  /** Progress lines (the CLI prints them). */
  onProgress?: (line: string) => void;
  /** Skip the wall-clock latency measurement (tests). */
  measureLatency?: boolean;
}

function levelName(level: CompressLevel): string {
  return Object.entries(level)
    .map(([k, v]) => `${k}${v}`)
    .join('_') || 'default';
}

export async function compressRun(reqIn: z.input<typeof CompressRequest>, opts: CompressRunOptions): Promise<CompressResult> {
  const req = parseOrThrow(CompressRequest, reqIn, 'compress request');
  const runDir = runFolder(opts.runsDir, req.runId);
  const { net, record } = await restoreSupernet(runDir).catch((e: unknown) => {
    throw new ProtocolError('not_found', e instanceof Error ? e.message : String(e));
  });
  const say = opts.onProgress ?? (() => {});
  try {
    const issues = validateArch(net.space, req.arch);
    if (issues.length > 0) throw new ProtocolError('invalid', `arch.${issues[0]!.path}: ${issues[0]!.message}`, issues.map((i) => ({ ...i, path: `arch.${i.path}` })));
    const ds = await loadDataset(record.config.data, { input: net.space.input });
    if (ds.val.n <= req.calibSamples) {
      throw new ProtocolError('invalid', `calibSamples: the validation split has ${ds.val.n} samples; calibration needs fewer than that to leave some for scoring`, [{ path: 'calibSamples', message: `must be < ${ds.val.n}` }]);
    }
    if (hasBatchNorm(net.space)) {
      const batches = recalibrationBatches(ds.train, inputShapeOf(net.space.input));
      recalibrateBatchNorm(net, req.arch, batches);
      tf.dispose(batches);
    }
    const base = await subnetGraph(net, req.arch);
    const now = (opts.now ?? (() => new Date()))();
    const folder = req.name ?? now.toISOString().replace(/[:.]/g, '-');
    const dir = join(runDir, 'compress', folder);
    await mkdir(dir, { recursive: true });
    const evalN = req.evalSamples ?? Infinity;
    const valSlice: SplitSlice = { split: ds.val, from: req.calibSamples, count: Math.min(evalN, ds.val.n - req.calibSamples) };
    const testSlice: SplitSlice = { split: ds.test, from: 0, count: Math.min(evalN, ds.test.n) };
    const calibX = sliceTensor(base, { split: ds.val, from: 0, count: req.calibSamples });
    const checkX = sliceTensor(base, { split: ds.val, from: req.calibSamples, count: 64 });
    const points: CompressPoint[] = [];
    const score = async (graph: SubnetGraph, method: CompressPoint['method'], level: CompressLevel, layers: LayerReport[]): Promise<CompressPoint> => {
      opts.signal?.throwIfAborted();
      const accuracy: AccuracyEstimate[] = [];
      const v = await graphAccuracy(graph, valSlice);
      accuracy.push(accuracyEstimate('val', v.accuracy, v.n));
      if (req.test) {
        const t = await graphAccuracy(graph, testSlice);
        accuracy.push(accuracyEstimate('test', t.accuracy, t.n));
      }
      const size = graphSize(graph);
      const latencyMs = opts.measureLatency === false ? null : await measureGraphLatency(graph, { rounds: 2, runs: 10 });
      const point: CompressPoint = { method, level, accuracy, params: size.params, bits: size.bits, latencyMs, layers };
      if (req.onnx) {
        // An export like any subnet's: <run>/exports/<name>, so the export download serves it as a zip.
        const sub = join(runDir, 'exports', `compress-${folder}-${method ?? 'uncompressed'}-${levelName(level)}`);
        await mkdir(sub, { recursive: true });
        // The ONNX writer of every export (quantised kernels as int8 + DequantizeLinear), run back in onnxruntime-node.
        const written = await onnxWriter.write(graph, sub, { description: 'Switchyard compressed subnet', metadata: { runId: req.runId, arch: JSON.stringify(req.arch), method: method ?? 'none', level: JSON.stringify(level) } });
        const file = written.files[0]!;
        const ref = runSubnetGraph(graph, checkX);
        const diff = maxAbsDiff(await written.run(checkX), await ref.data());
        ref.dispose();
        if (!(diff <= EXPORT_TOLERANCE)) throw new Error(`${file}: onnxruntime output differs from the graph by ${diff} (> ${EXPORT_TOLERANCE})`);
        point.onnx = { file, maxAbsDiff: diff };
        const card = { runId: req.runId, arch: req.arch, date: now.toISOString(), compression: { method, level, calibration: { split: 'val', n: req.calibSamples } }, accuracy, params: size.params, bits: size.bits, latencyMs, layers, check: { onnxMaxAbsDiff: diff, tolerance: EXPORT_TOLERANCE }, files: ['model.onnx'] };
        await writeFile(join(sub, 'card.json'), JSON.stringify(card, null, 2));
      }
      say(`${method ?? 'uncompressed'} ${JSON.stringify(level)}: val ${(v.accuracy * 100).toFixed(1)} % (n=${v.n}), ${size.params} params, ${(size.bits / 8192).toFixed(1)} KiB`);
      return point;
    };
    try {
      points.push(await score(base, null, {}, []));
      for (const name of req.methods) {
        const method = compressionMethods[name];
        for (const level of req.levels ?? method.levels) {
          const c = await compressGraph(base, method, level, calibX);
          points.push(await score(c.graph, name, level, c.layers));
        }
      }
    } finally {
      tf.dispose([calibX, checkX]);
    }
    const result: CompressResult = { runId: req.runId, arch: req.arch, dir, date: now.toISOString(), calibration: { split: 'val', n: req.calibSamples }, points };
    await writeFile(join(dir, COMPRESS_FILE), JSON.stringify(result, null, 2));
    return result;
  } finally {
    net.dispose();
  }
}

/** `compress.list`: the run's stored results, newest first; a damaged file is skipped with its name in `onWarning`. */
export async function listCompressResults(runsDir: string, runId: string, onWarning?: (m: string) => void): Promise<CompressResult[]> {
  const root = join(runFolder(runsDir, runId), 'compress');
  const names = await readdir(root).catch(() => [] as string[]);
  const out: CompressResult[] = [];
  for (const n of names.sort().reverse()) {
    const file = join(root, n, COMPRESS_FILE);
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch {
      continue;
    }
    try {
      out.push(parseOrThrow(CompressResult, JSON.parse(text), file));
    } catch (e) {
      onWarning?.(`${file}: ${(e as Error).message}`);
    }
  }
  return out;
}
