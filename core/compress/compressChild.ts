/**
 * `compress.run` for the app: the work runs in a child process (the CLI entry, forked, `switchyard
 * compress … --json`), never on the thread that serves clients (STYLE rule 5) — SVDs and assignments
 * are synchronous JavaScript. The child's stdout is the CompressResult, validated here.
 */
import { fork } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { z } from 'zod';
import { CompressRequest, CompressResult, parseOrThrow, ProtocolError, type BackendChoice } from '../protocol/protocol.js';
import { cliEntry } from '../search/RankManager.js';

export interface CompressChildOptions {
  runsDir: string;
  backend?: BackendChoice;
  signal?: AbortSignal;
  /** Override of the CLI entry to fork (tests). */
  entry?: { path: string; execArgv: string[] };
}

/** The request as `switchyard compress` flags (the arch through a file). */
export function compressArgs(req: CompressRequest, archFile: string, runsDir: string): string[] {
  const args = ['compress', req.runId, archFile, '--runs-dir', runsDir, '--json', '--method', req.methods.join(','), '--calib', String(req.calibSamples)];
  if (req.levels) args.push('--levels', req.levels.map((l) => Object.entries(l).map(([k, v]) => `${k}=${v}`).join(',')).join(';'));
  if (req.evalSamples !== undefined) args.push('--eval', String(req.evalSamples));
  if (!req.test) args.push('--no-test');
  if (!req.onnx) args.push('--no-onnx');
  if (req.name) args.push('--name', req.name);
  return args;
}

export async function compressInChild(reqIn: z.input<typeof CompressRequest>, opts: CompressChildOptions): Promise<CompressResult> {
  const req = parseOrThrow(CompressRequest, reqIn, 'compress request');
  const tmp = await mkdtemp(join(tmpdir(), 'sy-compress-'));
  try {
    const archFile = join(tmp, 'arch.json');
    await writeFile(archFile, JSON.stringify({ arch: req.arch }));
    const args = compressArgs(req, archFile, opts.runsDir);
    if (opts.backend) args.push('--backend', opts.backend);
    const entry = opts.entry ?? cliEntry();
    const child = fork(entry.path, args, { execArgv: entry.execArgv, env: { ...process.env, ELECTRON_RUN_AS_NODE: '1' }, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
    const onAbort = () => child.kill('SIGINT');
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr = (stderr + d).slice(-4000)));
    const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    opts.signal?.removeEventListener('abort', onAbort);
    opts.signal?.throwIfAborted();
    const line = stdout.trim().split('\n').pop() ?? '';
    if (code !== 0 || !line.startsWith('{')) {
      const msg = stderr.split('\n').filter((l) => l.startsWith('switchyard compress:')).pop() ?? stderr.trim().split('\n').pop() ?? '';
      throw new ProtocolError(code === 2 ? 'invalid' : 'failed', msg.replace(/^switchyard compress: /, '') || `compress exited with code ${code}`);
    }
    return parseOrThrow(CompressResult, JSON.parse(line), 'compress result');
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}
