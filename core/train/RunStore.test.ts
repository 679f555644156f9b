import { spawnSync } from 'node:child_process';
import { appendFile, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TrainConfig, type MetricPoint, type RunRecord } from '../protocol/protocol.js';
import { atomicWriteFile } from './atomicWrite.js';
import type { Checkpoint } from './checkpointFormat.js';
import { defaultRunsDir, RunStore } from './RunStore.js';

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'sy-runs-'));
});
afterEach(() => rm(root, { recursive: true, force: true }));

const space = {
  name: 'tiny',
  input: { kind: 'vector', dim: 2 },
  numClasses: 2,
  stages: [{ id: 's1', depth: [1], block: { type: 'dense', width: [4] } }],
};

function record(id: string, createdAt = '2026-01-01T00:00:00.000Z'): RunRecord {
  const config = TrainConfig.parse({ space, data: { kind: 'spirals' } });
  return {
    config,
    summary: {
      id, name: id, createdAt, status: 'running', strategy: 'spos', step: 0, steps: 500, backend: 'cpu', device: 'CPU',
      spaceName: 'tiny', dataKind: 'spirals', lastLoss: null, lastAccuracy: null, bestValAccuracy: null,
    },
  };
}
const point = (step: number): MetricPoint => ({ step, time: step, loss: 1, accuracy: 0.5, stepMs: 1, samplesPerSec: 10, etaSec: 0 });

function checkpoint(step: number, fill: number): Checkpoint {
  return {
    meta: { step, elapsedSec: 1.5, samplerRngState: 42, data: { epoch: 1, cursor: 3, epochRngState: 7 }, optimizer: { t: { w: 3 } }, bestValAccuracy: 0.5 },
    variables: [
      { name: 's1.b0/kernel', shape: [2, 3], dtype: 'float32', data: new Float32Array(6).fill(fill) },
      { name: 'count', shape: [], dtype: 'int32', data: Int32Array.of(-5) },
    ],
    optimizerSlots: [{ name: 's1.b0/kernel/m', shape: [2, 3], dtype: 'float32', data: Float32Array.of(1e-30, -0, Math.PI, 1, 2, 3) }],
  };
}

describe('defaultRunsDir', () => {
  it('follows the env override, then each platform convention', () => {
    expect(defaultRunsDir({ SWITCHYARD_RUNS_DIR: '/x' }, 'linux', '/h')).toBe('/x');
    expect(defaultRunsDir({}, 'linux', '/h')).toBe('/h/.local/share/switchyard/runs');
    expect(defaultRunsDir({ XDG_DATA_HOME: '/d' }, 'linux', '/h')).toBe('/d/switchyard/runs');
    expect(defaultRunsDir({}, 'darwin', '/h')).toBe('/h/Library/Application Support/Switchyard/runs');
    expect(defaultRunsDir({ APPDATA: 'C:/AD' }, 'win32', '/h')).toMatch(/^C:\/AD.Switchyard.runs$/);
  });
});

describe('RunStore', () => {
  it('creates, lists newest first, updates and refuses ids that escape the folder', async () => {
    const store = new RunStore(root);
    await store.createRun(record('a', '2026-01-01T00:00:00.000Z'));
    await store.createRun(record('b', '2026-01-02T00:00:00.000Z'));
    expect((await store.list()).map((s) => s.id)).toEqual(['b', 'a']);
    await store.updateSummary('a', { status: 'completed', step: 500 });
    expect((await store.readRecord('a')).summary).toMatchObject({ status: 'completed', step: 500 });
    await expect(store.readRecord('../etc')).rejects.toThrow(/not found/);
    await expect(store.readRecord('zzz')).rejects.toThrow(/run "zzz" not found/);
  });

  it('reads metrics past a torn last line and truncates back to a step', async () => {
    const store = new RunStore(root);
    await store.createRun(record('r'));
    await store.appendMetrics('r', [point(1), point(2), point(3)]);
    await appendFile(join(root, 'r', 'metrics.jsonl'), '{"step":4,"time":4,"lo');
    expect((await store.readMetrics('r')).map((p) => p.step)).toEqual([1, 2, 3]);
    await store.truncateMetrics('r', 2);
    await store.appendMetrics('r', [point(3)]);
    expect((await store.readMetrics('r')).map((p) => p.step)).toEqual([1, 2, 3]);
  });

  it('round-trips a checkpoint bit-exactly', async () => {
    const store = new RunStore(root);
    await store.createRun(record('r'));
    expect(await store.loadLatestCheckpoint('r')).toBeNull();
    await store.writeCheckpoint('r', checkpoint(10, 0.25));
    const back = await store.loadLatestCheckpoint('r');
    expect(back!.meta).toEqual(checkpoint(10, 0.25).meta);
    expect(back!.variables[0]!.data).toEqual(new Float32Array(6).fill(0.25));
    expect(back!.variables[1]).toMatchObject({ name: 'count', dtype: 'int32', shape: [] });
    expect([...back!.variables[1]!.data]).toEqual([-5]);
    expect(back!.optimizerSlots[0]!.data).toEqual(Float32Array.of(1e-30, -0, Math.PI, 1, 2, 3));
  });
});

describe('atomic checkpoint write', () => {
  it('a failure before the rename leaves the old checkpoint intact', async () => {
    const store = new RunStore(root);
    await store.createRun(record('r'));
    await store.writeCheckpoint('r', checkpoint(10, 1));
    const target = join(root, 'r', 'checkpoint.bin');
    await expect(
      atomicWriteFile(target, new Uint8Array(100), { beforeRename: () => { throw new Error('crash'); } }),
    ).rejects.toThrow('crash');
    expect((await store.loadLatestCheckpoint('r'))!.meta.step).toBe(10);
  });

  it('a process killed (SIGKILL) after writing the temp file and before the rename leaves the old one intact', async () => {
    const store = new RunStore(root);
    await store.createRun(record('r'));
    await store.writeCheckpoint('r', checkpoint(10, 1));
    const target = join(root, 'r', 'checkpoint.bin');
    const mod = fileURLToPath(new URL('./atomicWrite.ts', import.meta.url));
    const script = `
      import { atomicWriteFile } from ${JSON.stringify(mod)};
      await atomicWriteFile(${JSON.stringify(target)}, new Uint8Array(1 << 20).fill(7), {
        beforeRename: () => process.kill(process.pid, 'SIGKILL'),
      });`;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(r.signal).toBe('SIGKILL');
    // the complete temp file is there, the target untouched
    const files = await readdir(join(root, 'r'));
    expect(files.some((f) => f.startsWith('.checkpoint.bin.') && f.endsWith('.tmp'))).toBe(true);
    const back = await store.loadLatestCheckpoint('r');
    expect(back!.meta.step).toBe(10);
    expect(back!.variables[0]!.data[0]).toBe(1);
    expect((await readFile(target)).length).toBeLessThan(1 << 20);
    // the owner of the run clears the leftover before training again
    expect(await store.removeStaleTempFiles('r')).toBe(1);
    expect((await readdir(join(root, 'r'))).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });
});
