import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { join } from 'node:path';
import { selectBackend } from '../nn/backend.js';
import { RankReport } from '../protocol/protocol.js';
import { createTinyDenseRun } from './createTestRun.js';
import { REPO_ROOT } from '../train/runCliProcess.js';
import { RankManager } from './RankManager.js';

let runsDir: string;
let runId: string;

beforeAll(async () => {
  await selectBackend('cpu');
  ({ runsDir, runId } = await createTinyDenseRun('sy-rankm-'));
});
afterAll(() => tf.disposeVariables());

describe('RankManager', () => {
  it('runs `switchyard rank` in a child process and serves the stored report', async () => {
    const m = new RankManager({ runsDir, backend: 'cpu' });
    expect(await m.get(runId)).toBeNull();
    expect(await m.start({ runId, subnets: 3, steps: 5, seeds: 2 })).toEqual({ runId });
    await expect(m.start({ runId })).rejects.toMatchObject({ code: 'busy' });
    await m.wait(runId);
    const r = RankReport.parse(await m.get(runId));
    expect(r.status).toBe('completed');
    expect(r.subnets).toHaveLength(3);
    expect(r.subnets.every((s) => s.standalone.length === 2)).toBe(true);
    expect(r.progress).toMatchObject({ done: 6, total: 6 });
    await expect(m.get('nope')).rejects.toMatchObject({ code: 'not_found' });
    await expect(m.start({ runId, subnets: 1 })).rejects.toMatchObject({ code: 'invalid', message: expect.stringContaining('subnets') });
    expect(await m.cancel(runId)).toEqual({ cancelled: false });
    // A report left 'running' by a process that is gone reads as interrupted.
    const { writeFile } = await import('node:fs/promises');
    await writeFile(join(runsDir, runId, 'rank.json'), JSON.stringify({ ...r, status: 'running', pid: 2 ** 22 + 12345 }));
    expect((await m.get(runId))!.status).toBe('interrupted');
    await writeFile(join(runsDir, runId, 'rank.json'), JSON.stringify({ ...r, status: 'running', pid: process.pid }));
    expect((await m.get(runId))!.status).toBe('running');
    await m.close();
  }, 60_000);
});

describe('cliEntry', () => {
  it('forks the TypeScript CLI from sources and out/cli/switchyard.mjs from either bundle', async () => {
    const { cliEntry } = await import('./RankManager.js');
    const fromSource = cliEntry(new URL('./RankManager.ts', import.meta.url).href);
    expect(fromSource.path).toBe(join(REPO_ROOT, 'core', 'host', 'cliMain.ts'));
    expect(fromSource.execArgv[0]).toBe('--import');
    expect(cliEntry('file:///app/out/cli/switchyard.mjs')).toEqual({ path: '/app/out/cli/switchyard.mjs', execArgv: [] });
    expect(cliEntry('file:///app/out/main/core.js').path).toBe('/app/out/cli/switchyard.mjs');
  });
});
