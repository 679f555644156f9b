/**
 * `switchyard export <runId|runDir> <arch.json|vector|largest|smallest> [flags]`: write a subnet of a
 * trained run as tfjs / ONNX models plus arch.json and a model card, each checked against the supernet.
 */
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { parseFlags } from '../protocol/cliFlags.js';
import { selectBackend } from '../nn/backend.js';
import { BackendChoice, ExportFormat, parseOrThrow, ProtocolError } from '../protocol/protocol.js';
import { Arch } from '../space/SearchSpace.js';
import { decodeArch, describeArch, largestArch, smallestArch, validateArch } from '../space/archCodec.js';
import type { SearchSpace } from '../space/SearchSpace.js';
import { RunStore } from '../train/RunStore.js';
import { resolveRun } from '../search/searchCli.js';
import { exportSubnet } from './exportSubnet.js';

const EXPORT_USAGE = `Usage: switchyard export <runId|runDir> <arch.json|vector|largest|smallest> [flags]
  arch                 a file holding an Arch (or {"arch": …}, as written by export / the app),
                       an encoded vector such as 0,1,1,0, or largest / smallest
  --formats F,…        from tfjs, onnx, arch (default tfjs,onnx,arch)
  --out DIR            output folder (default <run>/exports/<timestamp>)
  --backend B          auto | tensorflow | webgpu | wasm | cpu (default auto)
  --runs-dir DIR       where runs are stored
  --json               print the ExportResult as JSON`;

const ExportFlags = z
  .object({
    formats: z.string().optional(),
    out: z.string().optional(),
    backend: BackendChoice.optional(),
    'runs-dir': z.string().optional(),
    json: z.literal(true).optional(),
    help: z.literal(true).optional(),
  })
  .strict();

/** The arch argument → Arch of `space` (validated, errors name the bad field). */
export async function parseArchArgument(value: string, space: SearchSpace): Promise<Arch> {
  let arch: unknown;
  if (value === 'largest') arch = largestArch(space);
  else if (value === 'smallest') arch = smallestArch(space);
  else if (/^\s*\d+(\s*,\s*\d+)*\s*$/.test(value)) {
    try {
      arch = decodeArch(space, value.split(',').map((v) => Number(v.trim())));
    } catch (e) {
      throw new ProtocolError('invalid', `arch vector: ${(e as Error).message}`);
    }
  } else {
    let json: unknown;
    try {
      json = JSON.parse(await readFile(value, 'utf8'));
    } catch (e) {
      throw new ProtocolError('invalid', `${value}: ${(e as NodeJS.ErrnoException).code ? `cannot read (${(e as NodeJS.ErrnoException).code})` : `not valid JSON (${(e as Error).message})`}`);
    }
    arch = json && typeof json === 'object' && 'arch' in json ? (json as { arch: unknown }).arch : json;
  }
  const parsed = parseOrThrow(Arch, arch, 'arch', ['arch']);
  const issues = validateArch(space, parsed);
  if (issues.length > 0) throw new ProtocolError('invalid', `arch.${issues[0]!.path}: ${issues[0]!.message}`, issues.map((i) => ({ ...i, path: `arch.${i.path}` })));
  return parsed;
}

export async function runExportCommand(argv: string[]): Promise<number> {
  const { flags: raw, positionals } = parseFlags(argv, ['json', 'help']);
  const f = parseOrThrow(ExportFlags, raw, 'flags');
  if (f.help || positionals.length !== 2) {
    console.log(EXPORT_USAGE);
    return f.help ? 0 : 2;
  }
  const { runsDir, runId } = resolveRun(positionals[0]!, f['runs-dir']);
  const record = await new RunStore(runsDir).readRecord(runId).catch(() => {
    throw new ProtocolError('not_found', `run "${runId}" not found in ${runsDir}`);
  });
  const space = record.config.space;
  const arch = await parseArchArgument(positionals[1]!, space);
  const formats = f.formats?.split(',').map((x, i) => parseOrThrow(ExportFormat, x.trim(), `--formats[${i}]`, ['--formats', i]));
  const backend = await selectBackend(f.backend ?? 'auto');
  if (!f.json) console.error(`exporting ${describeArch(space, arch)} of run ${runId} on ${backend.device}`);
  const result = await exportSubnet({ runId, arch, ...(formats ? { formats } : {}) }, { runsDir, ...(f.out ? { outDir: f.out } : {}) });
  if (f.json) console.log(JSON.stringify(result));
  else {
    console.log(`wrote ${result.dir}`);
    for (const file of result.files) console.log(`  ${file.slice(result.dir.length + 1)}`);
    if (result.maxAbsDiff !== undefined) console.log(`max |Δlogit| vs the supernet path: ${result.maxAbsDiff.toExponential(2)}`);
  }
  return 0;
}
