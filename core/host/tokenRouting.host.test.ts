/**
 * `run.tokenRouting` and `run.generate` through the assembled core, as a client calls them: a stored run
 * (untrained weights, checkpointed) restored by the host; the experts and gates it answers per token equal
 * the top-k recomputed by hand from the router logits of the layer inputs the host's forward saw; bad
 * fields are named.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadDataset } from '../data/Dataset.js';
import { FORTUNES_DIR } from '../data/textCorpus.js';
import { DatasetConfig, type TokenRouting } from '../protocol/protocol.js';
import { createTestRun } from '../search/createTestRun.js';
import { largestArch } from '../space/archCodec.js';
import { captureMoEInputs, handTopK, lmSpace, routerLogits } from '../train/tokenRoutingFixture.js';
import { createCore, type Core } from './createCore.js';
import { testClient, type TestClient } from './testClient.js';

describe('token routing and generation over the protocol', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'sw-tokens-'));
  const runsDir = join(tmp, 'runs');
  let core: Core;
  let client: TestClient;
  const call = (method: string, params?: unknown) => client.call(method, params);

  beforeAll(async () => {
    await tf.setBackend('cpu');
    core = await createCore({ runsDir, backend: 'cpu' });
    client = testClient(core, { timeoutMs: 60_000 });
  });
  afterEach(() => vi.restoreAllMocks());
  afterAll(async () => {
    client?.session.close();
    await core?.close();
    rmSync(tmp, { recursive: true, force: true });
  });

  it('answers the experts and gates the MoE layers chose, per validation token', async () => {
    const data = { kind: 'sequence-tasks' as const, length: 3, symbols: 4, samples: 120, seed: 1 };
    const ds = await loadDataset(DatasetConfig.parse(data));
    const T = ds.inputShape[0]!;
    const space = lmSpace(ds.numClasses, T);
    const runId = await createTestRun(runsDir, { space, data, backend: 'cpu' });
    const arch = largestArch(space);
    const inputs = captureMoEInputs();
    const m = await call('run.tokenRouting', { runId, arch, offset: 2, samples: 4 });
    expect(m.t).toBe('result');
    const r = (m as { data: TokenRouting }).data;
    expect(r.sequences.map((s) => s.sample)).toEqual([2, 3, 4, 5]);
    expect(r.layers.map((l) => l.layer)).toHaveLength(2);
    expect(inputs).toHaveLength(2);
    inputs.forEach((input, l) => {
      const want = handTopK(routerLogits(input, 3), 2);
      r.sequences.forEach((s, b) =>
        s.tokens.forEach((tok, t) => {
          expect(tok.id).toBe(ds.val.x[(2 + b) * T + t]);
          expect(tok.layers[l]!.experts).toEqual(want[b * T + t]!.experts);
          tok.layers[l]!.gates.forEach((g, j) => expect(g).toBeCloseTo(want[b * T + t]!.gates[j]!, 5));
        }),
      );
    });
    // Bad input is named by its field.
    const bad = await call('run.tokenRouting', { runId, arch: { stages: [arch.stages[0], { ...arch.stages[1], depth: 5 }] } });
    expect(bad.t).toBe('error');
    expect((bad as { error: { message: string } }).error.message).toMatch(/arch\.stages\[1\]\.depth/);
    const missing = await call('run.tokenRouting', { runId: 'nope', arch });
    expect((missing as { error: { code: string } }).error.code).toBe('not_found');
    // Generation needs a text run.
    const gen = await call('run.generate', { runId, arch, prompt: 'ab' });
    expect((gen as { error: { message: string } }).error.message).toMatch(/runId: .*not a text corpus/);
  });

  it.skipIf(!existsSync(FORTUNES_DIR))('continues a prompt with a character LM run (greedy is deterministic)', async () => {
    const data = { kind: 'text' as const, dir: FORTUNES_DIR, seqLen: 16, maxChars: 2000, seed: 1 };
    const ds = await loadDataset(DatasetConfig.parse(data));
    const space = lmSpace(ds.numClasses, 16);
    const runId = await createTestRun(runsDir, { space, data, backend: 'cpu' });
    const arch = largestArch(space);
    const a = await call('run.generate', { runId, arch, prompt: 'The ', maxNewTokens: 12 });
    const b = await call('run.generate', { runId, arch, prompt: 'The ', maxNewTokens: 12 });
    expect(a.t).toBe('result');
    const r = (a as { data: { text: string; tokens: number[] } }).data;
    expect(r.tokens.length).toBeGreaterThan(0);
    expect(r.text).toBe(r.tokens.map((t) => ds.tokens!.vocab[t]).join(''));
    expect((b as { data: unknown }).data).toEqual((a as { data: unknown }).data);
    const tr = await call('run.tokenRouting', { runId, arch, samples: 2 });
    expect((tr as { data: TokenRouting }).data.tokenKind).toBe('character');
  });
});
