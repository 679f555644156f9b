/**
 * The protocol's `run.tokenRouting` and `run.generate` on a stored run: restore its supernet from the
 * latest checkpoint and its dataset from run.json, validate the arch against the space (errors name
 * `arch.<path>`), then ./tokenRouting.ts.
 */
import { loadDataset } from '../data/Dataset.js';
import type { Dataset } from '../data/DatasetContract.js';
import type { Supernet } from '../nn/types.js';
import {
  GenerateRequest,
  parseOrThrow,
  ProtocolError,
  TokenRoutingRequest,
  type GenerateResult,
  type RunRecord,
  type TokenRouting,
} from '../protocol/protocol.js';
import { validateArch } from '../space/archCodec.js';
import type { Arch } from '../space/SearchSpace.js';
import { restoreSupernet } from './restoreSupernet.js';
import { RunNotFoundError, RunStore } from './RunStore.js';
import { generateFromPrompt, tokenRoutingOf } from './tokenRouting.js';

async function withRun<T>(runsDir: string, runId: string, arch: Arch, f: (net: Supernet, ds: Dataset, record: RunRecord) => T | Promise<T>): Promise<T> {
  let dir: string;
  try {
    dir = new RunStore(runsDir).runDir(runId);
  } catch (e) {
    if (e instanceof RunNotFoundError) throw new ProtocolError('not_found', e.message, [{ path: 'runId', message: 'not a run id' }]);
    throw e;
  }
  const { net, record } = await restoreSupernet(dir).catch((e: unknown) => {
    throw new ProtocolError('not_found', e instanceof Error ? e.message : String(e), [{ path: 'runId', message: 'no restorable run' }]);
  });
  try {
    const issues = validateArch(net.space, arch).map((i) => ({ ...i, path: `arch.${i.path}` }));
    if (issues.length > 0) throw new ProtocolError('invalid', `invalid arch: ${issues[0]!.path}: ${issues[0]!.message}`, issues);
    const ds = await loadDataset(record.config.data, { input: net.space.input }).catch((e: unknown) => {
      throw new ProtocolError('failed', `run "${runId}": its dataset does not load: ${e instanceof Error ? e.message : String(e)}`);
    });
    try {
      return await f(net, ds, record);
    } catch (e) {
      if (e instanceof ProtocolError) throw e;
      if (e instanceof Error && e.name === 'AbortError') throw new ProtocolError('cancelled', `run "${runId}": cancelled`);
      throw new ProtocolError('invalid', e instanceof Error ? e.message : String(e));
    }
  } finally {
    net.dispose();
  }
}

export async function tokenRoutingOnRun(reqIn: unknown, runsDir: string): Promise<TokenRouting> {
  const req = parseOrThrow(TokenRoutingRequest, reqIn, 'token routing request');
  return withRun(runsDir, req.runId, req.arch, (net, ds) => tokenRoutingOf(net, req.arch, ds, { runId: req.runId, offset: req.offset, samples: req.samples }));
}

export async function generateOnRun(reqIn: unknown, runsDir: string, signal?: AbortSignal): Promise<GenerateResult> {
  const req = parseOrThrow(GenerateRequest, reqIn, 'generate request');
  return withRun(runsDir, req.runId, req.arch, (net, ds) => {
    if (!ds.tokens || ds.kind !== 'text') throw new ProtocolError('invalid', `runId: run "${req.runId}" trains on ${ds.kind}, not a text corpus; generation needs a character language model`, [{ path: 'runId', message: 'not a language-model run' }]);
    return generateFromPrompt(net, req, ds.tokens.vocab, signal);
  });
}
