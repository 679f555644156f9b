/**
 * `switchyard compress <runId|runDir> <arch.json|vector|largest|smallest> [--method m,…] [flags]`: run a
 * trained run's subnet through each compression method's sweep, print the accuracy-vs-size table and
 * write every point (compress.json, one model.onnx per point) under <run>/compress/.
 */
import { z } from 'zod';
import { parseArchArgument } from '../export/exportCli.js';
import { selectBackend } from '../nn/backend.js';
import { formatAccuracy } from '../protocol/accuracyInterval.js';
import { parseFlags } from '../protocol/cliFlags.js';
import { COMPRESS_METHODS, COMPRESS_METHOD_NAMES } from '../protocol/compressMethodNames.js';
import { BackendChoice, CompressLevel, CompressMethod, parseOrThrow, ProtocolError, type CompressResult } from '../protocol/protocol.js';
import { resolveRun } from '../search/searchCli.js';
import { RunStore } from '../train/RunStore.js';
import { compressRun } from './compressRun.js';
import { compressionMethods } from './registry.js';

const USAGE = `Usage: switchyard compress <runId|runDir> <arch.json|vector|largest|smallest> [flags]
  --method M,…         from ${COMPRESS_METHOD_NAMES.join(', ')} (default all)
${COMPRESS_METHOD_NAMES.map((m) => `                         ${m}: ${COMPRESS_METHODS[m]}\n                           default sweep ${JSON.stringify(compressionMethods[m].levels)}`).join('\n')}
  --levels L;L;…       levels for every method instead of the default sweeps, each as knob=value,…
                       (knobs: keep, bits, rank, sparsity, width), e.g. "keep=0.5;keep=0.25,rank=0.5"
  --calib N            validation samples to calibrate on (default 512; the rest of validation scores)
  --eval N             score at most N samples of each split
  --no-test            skip the test split (it is the final report; selection uses validation)
  --no-onnx            do not write and check model.onnx per point
  --name NAME          folder under <run>/compress/ (default a timestamp)
  --backend B          auto | tensorflow | webgpu | wasm | cpu (default auto)
  --runs-dir DIR       where runs are stored
  --json               print the CompressResult as JSON`;

const CompressFlags = z
  .object({
    method: z.string().optional(),
    levels: z.string().optional(),
    calib: z.coerce.number().int().optional(),
    eval: z.coerce.number().int().optional(),
    'no-test': z.literal(true).optional(),
    'no-onnx': z.literal(true).optional(),
    name: z.string().optional(),
    backend: BackendChoice.optional(),
    'runs-dir': z.string().optional(),
    json: z.literal(true).optional(),
    help: z.literal(true).optional(),
  })
  .strict();

/** "keep=0.5;keep=0.25,rank=0.5" → levels (errors name --levels[i].knob). */
export function parseLevels(text: string): CompressLevel[] {
  return text.split(';').map((part, i) => {
    const obj: Record<string, number> = {};
    for (const kv of part.split(',').filter((s) => s.trim())) {
      const [k, v] = kv.split('=').map((s) => s.trim());
      if (!k || v === undefined || v === '' || !Number.isFinite(Number(v))) throw new ProtocolError('invalid', `--levels[${i}]: "${kv}" is not knob=number`, [{ path: `--levels[${i}]`, message: 'knob=number' }]);
      obj[k] = Number(v);
    }
    return parseOrThrow(CompressLevel, obj, `--levels[${i}]`, ['--levels', i]);
  });
}

export function formatCompressTable(r: CompressResult): string {
  const rows = r.points.map((p) => {
    const val = p.accuracy.find((a) => a.split === 'val');
    const test = p.accuracy.find((a) => a.split === 'test');
    const experts = p.layers.map((l) => `${l.expertsAfter}/${l.expertsBefore}`).join(' ') || '-';
    return `| ${p.method ?? 'uncompressed'} | ${JSON.stringify(p.level)} | ${val ? formatAccuracy(val) : '-'} | ${test ? formatAccuracy(test) : '-'} | ${p.params} | ${(p.bits / 8192).toFixed(1)} | ${p.latencyMs !== null ? p.latencyMs.toFixed(3) : '-'} | ${experts} | ${p.onnx ? p.onnx.maxAbsDiff.toExponential(1) : '-'} |`;
  });
  return ['| method | level | val accuracy (95 % CI) | test accuracy (95 % CI) | params | KiB | latency ms (batch 1) | experts | ONNX max Δ |', '| --- | --- | --- | --- | --- | --- | --- | --- | --- |', ...rows].join('\n');
}

export async function runCompressCommand(argv: string[]): Promise<number> {
  const { flags: raw, positionals } = parseFlags(argv, ['json', 'help', 'no-test', 'no-onnx']);
  const f = parseOrThrow(CompressFlags, raw, 'flags');
  if (f.help || positionals.length !== 2) {
    console.log(USAGE);
    return f.help ? 0 : 2;
  }
  const { runsDir, runId } = resolveRun(positionals[0]!, f['runs-dir']);
  const record = await new RunStore(runsDir).readRecord(runId).catch(() => {
    throw new ProtocolError('not_found', `run "${runId}" not found in ${runsDir}`);
  });
  const arch = await parseArchArgument(positionals[1]!, record.config.space);
  const methods = f.method?.split(',').map((m, i) => parseOrThrow(CompressMethod, m.trim(), `--method[${i}]`, ['--method', i]));
  const backend = await selectBackend(f.backend ?? 'auto');
  if (!f.json) console.error(`compressing run ${runId} on ${backend.device}`);
  const result = await compressRun(
    {
      runId,
      arch,
      ...(methods ? { methods } : {}),
      ...(f.levels ? { levels: parseLevels(f.levels) } : {}),
      ...(f.calib !== undefined ? { calibSamples: f.calib } : {}),
      ...(f.eval !== undefined ? { evalSamples: f.eval } : {}),
      test: !f['no-test'],
      onnx: !f['no-onnx'],
      ...(f.name ? { name: f.name } : {}),
    },
    { runsDir, ...(f.json ? {} : { onProgress: (l: string) => console.error(l) }) },
  );
  if (f.json) console.log(JSON.stringify(result));
  else {
    console.log(formatCompressTable(result));
    console.log(`\nwrote ${result.dir}`);
  }
  return 0;
}
