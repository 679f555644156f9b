/**
 * The assembled core behind the protocol, as a client sees it: a session on a real core (cpu backend,
 * temporary runs folder) that validates, trains a small MoE run with live events, and lists it after.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunEvent } from '../protocol/protocol.js';
import { createCore, type Core } from './createCore.js';
import { testClient, type TestClient } from './testClient.js';

describe('core over the protocol', () => {
  let core: Core;
  let client: TestClient;
  const call = (method: string, params?: unknown) => client.call(method, params);

  beforeAll(async () => {
    core = await createCore({ runsDir: mkdtempSync(join(tmpdir(), 'sw-core-')), backend: 'cpu' });
    client = testClient(core);
  });
  afterAll(async () => {
    client?.session.close();
    await core?.close();
  });

  it('says hello with the chosen backend', async () => {
    const r = await call('host.hello');
    expect(r).toMatchObject({ t: 'result', data: { protocol: 1, backend: { name: 'cpu' } } });
  });

  it('lists example spaces that all validate', async () => {
    const r = await call('space.examples');
    if (r.t !== 'result') throw new Error(JSON.stringify(r));
    const examples = r.data as { id: string; space: unknown }[];
    expect(examples.length).toBeGreaterThanOrEqual(3);
    for (const ex of examples) {
      const v = await call('space.validate', { space: ex.space });
      expect(v, ex.id).toMatchObject({ t: 'result', data: { ok: true } });
      expect((v as { data: { cardinality: number } }).data.cardinality).toBeGreaterThanOrEqual(1);
      expect((v as { data: { params: number } }).data.params).toBeGreaterThan(100);
    }
  });

  it('refuses a run whose space is bad, naming the field', async () => {
    const ex = ((await call('space.examples')) as { data: { id: string; space: { stages: { block: Record<string, unknown> }[] } }[] }).data;
    const space = structuredClone(ex.find((e) => e.id === 'spirals-moe')!.space);
    const moe = space.stages.find((s) => s.block.type === 'moe')!;
    moe.block.routing = { mode: 'topk', k: 99 };
    const r = await call('train.start', { space, data: { kind: 'spirals' }, steps: 5 });
    expect(r.t).toBe('error');
    if (r.t !== 'error') return;
    expect(r.error.issues?.[0]?.path).toMatch(/^space\.stages\[\d+\]\.block\.routing\.k$/);
  });

  it('refuses a run whose activations cannot fit, with the estimate, the limit and the fields', async () => {
    const space = { name: 'wide', input: { kind: 'vector', dim: 784 }, numClasses: 10, stages: [{ id: 's', depth: [1], block: { type: 'dense', width: [4096] } }] };
    const r = await call('train.start', { space, data: { kind: 'spirals' }, batchSize: 65536 });
    expect(r.t).toBe('error');
    if (r.t !== 'error') return;
    expect(r.error.message).toMatch(/about \d+\.\d GiB of activation memory at batchSize 65536.*the limit is/);
    expect(r.error.issues?.map((i) => i.path)).toEqual(['batchSize', 'space.stages[0].block.width']);
    expect(((await call('runs.list')) as { data: unknown[] }).data).toHaveLength(0);
  });

  it('trains a small MoE run with live metrics and finds it again', async () => {
    const ex = ((await call('space.examples')) as { data: { id: string; space: unknown }[] }).data;
    const space = ex.find((e) => e.id === 'spirals-moe')!.space;
    client.session.receive({ t: 'listen', id: 999, event: 'onRunEvent' });
    const r = await call('train.start', { space, data: { kind: 'spirals', samples: 512 }, steps: 40, batchSize: 64, backend: 'cpu', evalEvery: 20, checkpointEvery: 20 });
    if (r.t !== 'result') throw new Error(JSON.stringify(r));
    const runId = (r.data as { runId: string }).runId;
    const events = () => client.inbox.flatMap((m) => (m.t === 'event' && m.id === 999 ? [m.data as RunEvent] : []));
    for (let i = 0; i < 900; i++) {
      if (events().some((e) => e.kind === 'status' && e.runId === runId && ['completed', 'failed'].includes(e.summary.status))) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const last = events().filter((e) => e.kind === 'status').at(-1);
    expect(last && last.kind === 'status' && last.summary.status).toBe('completed');
    const points = events().flatMap((e) => (e.kind === 'metrics' ? e.points : []));
    expect(points.length).toBeGreaterThan(5);
    expect(points.at(-1)!.step).toBe(40);
    expect(points.some((p) => (p.moe?.length ?? 0) > 0)).toBe(true);

    const list = await call('runs.list');
    expect((list as { data: { id: string }[] }).data.map((s) => s.id)).toContain(runId);
    const got = await call('runs.get', { runId });
    expect((got as { data: { metrics: unknown[] } }).data.metrics.length).toBeGreaterThanOrEqual(points.length);
  });
});
