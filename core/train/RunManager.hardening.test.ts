/**
 * The run manager against the ways runs got lost or doubled: concurrent resumes (two managers, a
 * manager and the CLI), fifty starts at once, a child that exits before its last message is read, a
 * killed child, a damaged run.json, a bit-flipped checkpoint. Real files; real training children
 * where the test is about training, a scripted child (fakeTrainChild.mjs) where it is about the
 * process lifecycle.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventHub } from '../protocol/EventHub.js';
import { TrainConfig, type RunEvent } from '../protocol/protocol.js';
import { RunManager } from './RunManager.js';
import { RunStore } from './RunStore.js';
import { runCliProcess } from './runCliProcess.js';
import { runTraining } from './runTraining.js';

const FAKE_CHILD = { path: fileURLToPath(new URL('./fakeTrainChild.mjs', import.meta.url)), execArgv: [] };

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'sy-manager-harden-'));
});
afterAll(() => rm(root, { recursive: true, force: true }));

let dirs = 0;
async function runsDir(mode?: string): Promise<string> {
  const dir = join(root, `runs-${++dirs}`);
  await rm(dir, { recursive: true, force: true });
  await (await import('node:fs/promises')).mkdir(dir, { recursive: true });
  if (mode) await writeFile(join(dir, 'fake-child.json'), JSON.stringify({ mode }));
  return dir;
}

const TINY = { name: 'tiny', input: { kind: 'vector', dim: 2 }, numClasses: 3, stages: [{ id: 's1', depth: [1], block: { type: 'dense', width: [8] } }] };
const tinyConfig = (steps: number, extra: object = {}) =>
  TrainConfig.parse({
    space: TINY, data: { kind: 'gaussians', classes: 3, samples: 300, seed: 2 }, strategy: 'spos', steps, batchSize: 16,
    learningRate: 0.01, evalEvery: 1000, checkpointEvery: 10, seed: 2, backend: 'cpu', ...extra,
  });

function collect(hub: EventHub): RunEvent[] {
  const events: RunEvent[] = [];
  hub.subscribe('onRunEvent', {}, (e) => events.push(e));
  return events;
}

function until(hub: EventHub, pred: (e: RunEvent) => boolean): Promise<RunEvent> {
  return new Promise((resolve) => {
    const off = hub.subscribe('onRunEvent', {}, (e) => {
      if (pred(e)) {
        off();
        resolve(e);
      }
    });
  });
}

const resumedLogs = (events: RunEvent[]) => events.filter((e) => e.kind === 'log' && /^resuming from step/.test(e.message)).length;

/** Make a finished run resumable for `more` steps (what a stopped run looks like on disk). */
async function extend(store: RunStore, runId: string, more: number): Promise<number> {
  const rec = await store.readRecord(runId);
  rec.config.steps += more;
  rec.summary.steps = rec.config.steps;
  rec.summary.status = 'stopped';
  await store.writeRecord(rec);
  return rec.config.steps;
}

const contiguous = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

describe('one trainer per run', () => {
  it('concurrent train.resume calls (one manager twice, a second manager, the CLI): one trainer, no duplicate or missing metric', async () => {
    const dir = await runsDir();
    const store = new RunStore(dir);
    const first = new RunManager({ runsDir: dir, backend: 'cpu', hub: new EventHub() });
    const { runId } = await first.start(tinyConfig(20));
    await first.whenExited(runId);
    expect((await store.readRecord(runId)).summary.status).toBe('completed');
    await first.close();

    const trials = 4;
    let duplicates = 0;
    let lost = 0;
    for (let t = 0; t < trials; t++) {
      const steps = await extend(store, runId, 20);
      const hubA = new EventHub();
      const hubB = new EventHub();
      const [eventsA, eventsB] = [collect(hubA), collect(hubB)];
      const a = new RunManager({ runsDir: dir, backend: 'cpu', hub: hubA });
      const b = new RunManager({ runsDir: dir, backend: 'cpu', hub: hubB });
      const calls = await Promise.allSettled([a.resume(runId), a.resume(runId), b.resume(runId)]);
      // the second call on one manager is refused at once
      expect(calls[1]).toMatchObject({ status: 'rejected', reason: { code: 'busy' } });
      await Promise.all([a.whenExited(runId), b.whenExited(runId)]);
      expect(resumedLogs(eventsA) + resumedLogs(eventsB)).toBe(1);
      const rec = await store.readRecord(runId);
      expect(rec.summary.status).toBe('completed');
      const got = (await store.readMetrics(runId)).map((p) => p.step);
      duplicates += got.length - new Set(got).size;
      lost += contiguous(steps).filter((s) => !got.includes(s)).length;
      expect(got).toEqual(contiguous(steps));
      await Promise.all([a.close(), b.close()]);
    }
    expect({ trials, duplicates, lost }).toEqual({ trials, duplicates: 0, lost: 0 });

    // the CLI's --resume beside the app
    const steps = await extend(store, runId, 20);
    const hub = new EventHub();
    const events = collect(hub);
    const m = new RunManager({ runsDir: dir, backend: 'cpu', hub });
    const [cli] = await Promise.all([
      runCliProcess(['train', '--resume', runId, '--runs-dir', dir, '--json']),
      m.resume(runId).then(() => m.whenExited(runId)).catch((e: unknown) => e),
    ]);
    const cliTrained = cli.code === 0 && JSON.parse(cli.stdout.trim().split('\n').at(-1)!).elapsedSec !== null;
    const managerTrained = resumedLogs(events) === 1;
    expect(cliTrained !== managerTrained, `cli ${cli.code} ${cli.stderr.slice(-500)}`).toBe(true);
    if (!cliTrained && cli.code !== 0) expect(cli.stderr).toMatch(/busy|being trained by process|already completed/);
    expect((await store.readMetrics(runId)).map((p) => p.step)).toEqual(contiguous(steps));
    await m.close();
  });
});

describe('run queue', () => {
  it('50 starts with 2 slots: never more than 2 children, the rest queued, all of them run', async () => {
    const dir = await runsDir('wait');
    const hub = new EventHub();
    let maxSeen = 0;
    const manager = new RunManager({ runsDir: dir, hub, entry: FAKE_CHILD, maxConcurrent: 2 });
    hub.subscribe('onRunEvent', {}, () => (maxSeen = Math.max(maxSeen, manager.training())));
    const ids: string[] = [];
    for (let i = 0; i < 50; i++) ids.push((await manager.start(tinyConfig(5))).runId);
    expect(manager.training()).toBe(2);
    expect(manager.queued()).toHaveLength(48);
    const listed = await manager.list();
    expect(listed.filter((s) => s.status === 'queued').length).toBeGreaterThanOrEqual(48);
    // stop on a queued run takes it out of the queue; it never starts
    const dropped = ids[49]!;
    expect(await manager.stop(dropped)).toEqual({ stopped: true });
    expect(manager.queued()).not.toContain(dropped);
    expect((await manager.get(dropped)).record.summary.status).toBe('stopped');

    const done = new Set<string>();
    const allDone = new Promise<void>((resolve) =>
      hub.subscribe('onRunEvent', {}, (e) => {
        if (e.kind === 'status' && e.summary.status === 'completed') done.add(e.runId);
        if (done.size === 49) resolve();
      }),
    );
    await writeFile(join(dir, 'release'), '');
    await allDone;
    await Promise.all(ids.map((id) => manager.whenExited(id)));
    // an independent count from the children's own log: concurrent = starts not yet ended
    const log = (await readFile(join(dir, 'fake-child.log'), 'utf8')).trim().split('\n');
    let alive = 0;
    let maxAlive = 0;
    for (const line of log) {
      alive += line.startsWith('start') ? 1 : -1;
      maxAlive = Math.max(maxAlive, alive);
    }
    const starts = log.filter((l) => l.startsWith('start')).length;
    expect({ starts, maxAlive, maxSeen }).toEqual({ starts: 49, maxAlive: 2, maxSeen: 2 });
    expect(log.some((l) => l.includes(dropped))).toBe(false);
    const statuses = (await manager.list()).map((s) => s.status);
    expect(statuses.filter((s) => s === 'completed')).toHaveLength(49);
    await manager.close();
  });

  it('the default is two on a CPU backend and one on a GPU', async () => {
    const { defaultMaxConcurrent } = await import('./RunManager.js');
    expect(defaultMaxConcurrent({ name: 'cpu', device: 'CPU', available: ['cpu'], notes: [] })).toBe(2);
    expect(defaultMaxConcurrent({ name: 'webgpu', device: 'WebGPU: nvidia', available: ['webgpu'], notes: [] })).toBe(1);
    expect(defaultMaxConcurrent({ name: 'tensorflow', device: 'TensorFlow C library (CUDA)', available: ['tensorflow'], notes: [] })).toBe(1);
    expect(defaultMaxConcurrent({ name: 'tensorflow', device: 'TensorFlow C library (CPU, 2 cores)', available: ['tensorflow'], notes: [] })).toBe(2);
    // a provider that fails (no backend could be loaded) leaves the CPU default, not a queue that never starts
    const dir = await runsDir();
    const failing = new RunManager({ runsDir: dir, maxConcurrent: () => Promise.reject(new Error('no backend')) });
    expect(await failing.maxConcurrent()).toBe(2);
    expect(await new RunManager({ runsDir: dir, maxConcurrent: async () => 1 }).maxConcurrent()).toBe(1);
  });
});

describe('final status and clear reasons', () => {
  it('a child that wrote "completed" and exited before its done message was read stays completed', async () => {
    const dir = await runsDir('exit-before-done');
    const manager = new RunManager({ runsDir: dir, entry: FAKE_CHILD, maxConcurrent: 2 });
    const ids = await Promise.all(Array.from({ length: 6 }, () => manager.start(tinyConfig(5)).then((r) => r.runId)));
    await Promise.all(ids.map((id) => manager.whenExited(id)));
    for (const id of ids) expect((await manager.get(id)).record.summary).toMatchObject({ status: 'completed' });
    await manager.close();
  });

  it('a killed child: the reason gives the signal and its last log lines, not the TF.js banner', async () => {
    const dir = await runsDir('banner-then-kill');
    const manager = new RunManager({ runsDir: dir, entry: FAKE_CHILD });
    const { runId } = await manager.start(tinyConfig(5));
    await manager.whenExited(runId);
    const s = (await manager.get(runId)).record.summary;
    expect(s.status).toBe('interrupted');
    expect(s.error).toMatch(/^training process killed by SIGKILL: /);
    expect(s.error).toContain('step 3: out of memory in the MoE dispatch');
    expect(s.error).not.toMatch(/TensorFlow\.js in Node\.js|====/);
    await manager.close();
  });

  it('a run whose run.json is broken is listed as damaged; opening or resuming it names the file', async () => {
    const dir = await runsDir();
    const store = new RunStore(dir);
    const manager = new RunManager({ runsDir: dir, entry: FAKE_CHILD });
    const { runId } = await manager.start(tinyConfig(5)).catch(() => ({ runId: '' }));
    expect(runId).not.toBe('');
    await manager.whenExited(runId);
    await writeFile(join(dir, runId, 'run.json'), '{"summary": ');
    const listed = (await manager.list()).find((s) => s.id === runId)!;
    expect(listed.status).toBe('damaged');
    expect(listed.error).toContain(join(dir, runId, 'run.json'));
    await expect(manager.get(runId)).rejects.toThrow(/run\.json: not valid JSON/);
    await expect(manager.resume(runId)).rejects.toThrow(/run\.json: not valid JSON/);
    expect(existsSync(join(dir, runId, 'metrics.jsonl'))).toBe(true);
    await manager.close();
    void store;
  });
});

describe('resume from damaged files', () => {
  it('a history that cannot be read: the resume is refused with an error naming the file, which is left intact', async () => {
    const dir = await runsDir();
    const store = new RunStore(dir);
    const { newRunRecord } = await import('./RunStore.js');
    const runId = store.newRunId();
    await store.createRun(newRunRecord(runId, tinyConfig(20)));
    expect((await runTraining({ store, runId, resume: false, backend: 'cpu', emit: () => {} })).summary.status).toBe('completed');
    await extend(store, runId, 10);
    const file = join(dir, runId, 'metrics.jsonl');
    const history = await readFile(file, 'utf8');
    // an unreadable history: metrics.jsonl replaced by a folder holding the old lines
    await rm(file);
    await (await import('node:fs/promises')).mkdir(file);
    await writeFile(join(file, 'lines'), history);
    const out = await runTraining({ store, runId, resume: true, backend: 'cpu', emit: () => {} });
    expect(out.summary.status).toBe('failed');
    expect(out.summary.error).toContain(file);
    expect(out.summary.error).toMatch(/cannot read the metric history \(EISDIR\); the file was left as it is/);
    expect(await readFile(join(file, 'lines'), 'utf8')).toBe(history);
    expect((await store.readRecord(runId)).summary.status).toBe('failed');
  });

  it('4 KB of weights set to 0xFF: the resume warns naming checkpoint.bin, continues from the previous checkpoint, losses finite', async () => {
    const dir = await runsDir();
    const store = new RunStore(dir);
    // wide enough that the weights are well over 4 KB
    const cfg = tinyConfig(40, { space: { ...TINY, stages: [{ id: 's1', depth: [1], block: { type: 'dense', width: [256] } }] } });
    const runId = store.newRunId();
    const { newRunRecord } = await import('./RunStore.js');
    await store.createRun(newRunRecord(runId, cfg));
    const quiet = () => {};
    expect((await runTraining({ store, runId, resume: false, backend: 'cpu', emit: quiet })).summary.status).toBe('completed');
    const file = join(dir, runId, 'checkpoint.bin');
    const buf = await readFile(file);
    const jsonLen = buf.readUInt32LE(8);
    const dataStart = (44 + jsonLen + 7) & ~7;
    expect(buf.length - dataStart).toBeGreaterThan(3 * 4096);
    buf.fill(0xff, dataStart + 1024, dataStart + 1024 + 4096);
    await writeFile(file, buf);
    const steps = await extend(store, runId, 20);
    const logs: string[] = [];
    const out = await runTraining({ store, runId, resume: true, backend: 'cpu', emit: (e) => e.kind === 'log' && logs.push(`${e.level}: ${e.message}`) });
    expect(out.summary.status).toBe('completed');
    expect(logs.find((l) => l.startsWith('warn:'))).toMatch(new RegExp(`${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: checksum mismatch.*checkpoint\\.prev\\.bin \\(step 30\\)`));
    expect(logs).toContain('info: resuming from step 30');
    const metrics = await store.readMetrics(runId);
    expect(metrics.map((p) => p.step)).toEqual(contiguous(steps));
    expect(metrics.every((p) => Number.isFinite(p.loss))).toBe(true);
  });
});
