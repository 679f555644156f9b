/**
 * Run storage against damaged and huge files: unreadable histories are never replaced, long histories
 * stream and page, a broken run.json is listed as damaged, a damaged checkpoint falls back to the
 * previous one.
 */
import { existsSync } from 'node:fs';
import { appendFile, lstat, mkdir, mkdtemp, open, readFile, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TrainConfig, type MetricPoint, type RunRecord } from '../protocol/protocol.js';
import { CHECKPOINT_VERSION, decodeCheckpoint, encodeCheckpoint, type Checkpoint } from './checkpointFormat.js';
import { MetricsReadError, RunStore } from './RunStore.js';

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'sy-harden-'));
});
afterEach(() => rm(root, { recursive: true, force: true }));

const space = { name: 'tiny', input: { kind: 'vector', dim: 2 }, numClasses: 2, stages: [{ id: 's1', depth: [1], block: { type: 'dense', width: [4] } }] };
function record(id: string): RunRecord {
  return {
    config: TrainConfig.parse({ space, data: { kind: 'spirals' } }),
    summary: {
      id, name: id, createdAt: '2026-01-01T00:00:00.000Z', status: 'stopped', strategy: 'spos', step: 0, steps: 500, backend: 'cpu',
      device: 'CPU', spaceName: 'tiny', dataKind: 'spirals', lastLoss: null, lastAccuracy: null, bestValAccuracy: null,
    },
  };
}
const point = (step: number): MetricPoint => ({ step, time: step / 10, loss: 1 / step, accuracy: 0.5, stepMs: 1, samplesPerSec: 10, etaSec: 0 });
const metricsFile = (id: string) => join(root, id, 'metrics.jsonl');

describe('metric history', () => {
  it.runIf(existsSync('/proc/self/mem'))('an unreadable history is an error naming the file, and a resume’s truncation leaves it as it is', async () => {
    const store = new RunStore(root);
    await store.createRun(record('r'));
    // A real I/O error: reading /proc/self/mem at offset 0 fails with EIO.
    await rm(metricsFile('r'));
    await symlink('/proc/self/mem', metricsFile('r'));
    const read = await store.readMetrics('r').catch((e: unknown) => e);
    expect(read).toBeInstanceOf(MetricsReadError);
    expect((read as Error).message).toContain(metricsFile('r'));
    expect((read as Error).message).toMatch(/EIO/);
    await expect(store.truncateMetrics('r', 10)).rejects.toThrow(/metrics\.jsonl: cannot read the metric history \(EIO\); the file was left as it is/);
    // not replaced by an (empty) rewrite
    expect((await lstat(metricsFile('r'))).isSymbolicLink()).toBe(true);
    expect(await readlink(metricsFile('r'))).toBe('/proc/self/mem');
  });

  it('a history that is not a file: every reader fails naming it, none rewrites it', async () => {
    const store = new RunStore(root);
    await store.createRun(record('r'));
    await rm(metricsFile('r'));
    await mkdir(metricsFile('r'));
    await writeFile(join(metricsFile('r'), 'keep'), 'x');
    await expect(store.readMetrics('r')).rejects.toThrow(/metrics\.jsonl: cannot read the metric history \(EISDIR\)/);
    await expect(store.readMetricsPage('r')).rejects.toThrow(/metrics\.jsonl: cannot read the metric history \(not a regular file\)/);
    await expect(store.truncateMetrics('r', 3)).rejects.toBeInstanceOf(MetricsReadError);
    expect(await readFile(join(metricsFile('r'), 'keep'), 'utf8')).toBe('x');
  });

  it('a history larger than one string may be (> 512 MiB) streams: read, truncated to a step, nothing lost', async () => {
    const store = new RunStore(root);
    await store.createRun(record('big'));
    // 540 points of 1,000,000 bytes each (whitespace padding, valid JSON): 540 MB, above V8's string limit
    const lineBytes = 1_000_000;
    const n = 540;
    const fh = await open(metricsFile('big'), 'w');
    for (let s = 1; s <= n; s++) {
      const json = JSON.stringify(point(s));
      await fh.write(json + ' '.repeat(lineBytes - json.length - 1) + '\n');
    }
    await fh.close();
    expect(n * lineBytes).toBeGreaterThan(0x1fffffe8);
    const page = await store.readMetricsPage('big', { offset: 530, limit: 100 });
    expect(page.total).toBe(n);
    expect(page.points.map((p) => p.step)).toEqual(Array.from({ length: 10 }, (_, i) => 531 + i));
    await store.truncateMetrics('big', 7);
    expect((await store.readMetrics('big')).map((p) => p.step)).toEqual([1, 2, 3, 4, 5, 6, 7]);
  });

  it('pages: every point exactly once in order, stride for plots, a torn tail not counted until whole', async () => {
    const store = new RunStore(root);
    await store.createRun(record('p'));
    await store.appendMetrics('p', Array.from({ length: 1000 }, (_, i) => point(i + 1)));
    const seen: number[] = [];
    let offset: number | null = 0;
    let pages = 0;
    while (offset !== null) {
      const page = await store.readMetricsPage('p', { offset, limit: 300 });
      expect(page.total).toBe(1000);
      seen.push(...page.points.map((p) => p.step));
      offset = page.nextOffset;
      pages++;
    }
    expect(pages).toBe(4);
    expect(seen).toEqual(Array.from({ length: 1000 }, (_, i) => i + 1));
    const strided = await store.readMetricsPage('p', { offset: 0, limit: 50, stride: 20 });
    expect(strided.points.map((p) => p.step)).toEqual(Array.from({ length: 50 }, (_, i) => 1 + 20 * i));
    expect(strided.nextOffset).toBeNull();
    // a torn line (crash mid-append) is neither a point nor counted; appends after it are seen
    await appendFile(metricsFile('p'), '{"step":1001,"time":1');
    expect((await store.readMetricsPage('p', { offset: 995 })).points.map((p) => p.step)).toEqual([996, 997, 998, 999, 1000]);
    await store.truncateMetrics('p', 998); // a resume: the file is replaced
    await store.appendMetrics('p', [point(999), point(1000), point(1001)]);
    const tail = await store.readMetricsPage('p', { offset: 990 });
    expect(tail.total).toBe(1001);
    expect(tail.points.map((p) => p.step)).toEqual(Array.from({ length: 11 }, (_, i) => 991 + i));
    // the whole-history reader agrees
    expect((await store.readMetrics('p')).map((p) => p.step)).toEqual(Array.from({ length: 1001 }, (_, i) => i + 1));
  });
});

describe('run list', () => {
  it('lists a run whose run.json is broken as damaged, naming the file and the reason', async () => {
    const store = new RunStore(root);
    await store.createRun(record('good'));
    await store.createRun(record('torn'));
    await store.createRun(record('invalid'));
    await store.createRun(record('gone'));
    await writeFile(join(root, 'torn', 'run.json'), '{"summary": {"id": "torn", "name": "my run", "createdAt": "2026-01-02T00:00:00.000Z"');
    const bad = record('invalid');
    (bad.summary as { status: string }).status = 'exploded';
    await writeFile(join(root, 'invalid', 'run.json'), JSON.stringify(bad));
    await rm(join(root, 'gone', 'run.json'));
    await mkdir(join(root, 'not-a-run')); // an empty folder is not a run
    const list = await store.list();
    expect(list.map((s) => s.id).sort()).toEqual(['gone', 'good', 'invalid', 'torn']);
    const by = Object.fromEntries(list.map((s) => [s.id, s]));
    expect(by.good!.status).toBe('stopped');
    expect(by.torn!.status).toBe('damaged');
    expect(by.torn!.error).toContain(join(root, 'torn', 'run.json'));
    expect(by.torn!.error).toMatch(/not valid JSON/);
    expect(by.invalid!.status).toBe('damaged');
    expect(by.invalid!.error).toMatch(/invalid[/\\]run\.json: summary\.status: /);
    expect(by.invalid!.name).toBe('invalid'); // salvaged from the file
    expect(by.gone!.error).toMatch(/gone[/\\]run\.json: is missing/);
    await expect(store.readRecord('torn')).rejects.toThrow(/torn[/\\]run\.json: not valid JSON/);
  });
});

function checkpoint(step: number, size: number, fill: (i: number) => number): Checkpoint {
  const w = new Float32Array(size).map((_, i) => fill(i));
  return {
    meta: { step, elapsedSec: 1, samplerRngState: 1, data: { epoch: 0, cursor: 0, epochRngState: 1 }, optimizer: {}, bestValAccuracy: null },
    variables: [{ name: 'w', shape: [size], dtype: 'float32', data: w }],
    optimizerSlots: [{ name: 'w/m', shape: [size], dtype: 'float32', data: new Float32Array(size).fill(0.5) }],
  };
}

/** Byte range of the first variable's data in an encoded checkpoint (from its own header). */
function weightsRange(buf: Uint8Array): [number, number] {
  const view = new DataView(buf.buffer, buf.byteOffset);
  const jsonLen = view.getUint32(8, true);
  const header = JSON.parse(new TextDecoder().decode(buf.subarray(44, 44 + jsonLen)));
  const dataStart = (44 + jsonLen + 7) & ~7;
  return [dataStart, dataStart + header.variables[0].length * 4];
}

describe('checkpoints', () => {
  it('a 4 KB run of 0xFF (NaN) or 0x3F (finite garbage) in the weights: detected, the previous checkpoint used, every trial', async () => {
    const store = new RunStore(root);
    await store.createRun(record('c'));
    const file = join(root, 'c', 'checkpoint.bin');
    let trials = 0;
    let recovered = 0;
    for (let t = 0; t < 40; t++) {
      await store.writeCheckpoint('c', checkpoint(10 * t + 10, 8192, (i) => Math.sin(i + t)));
      await store.writeCheckpoint('c', checkpoint(10 * t + 20, 8192, (i) => Math.cos(i + t)));
      const buf = await readFile(file);
      const [from, to] = weightsRange(buf);
      const at = from + Math.floor(((t * 7919) % 997) / 997 * (to - from - 4096));
      buf.fill(t % 2 ? 0x3f : 0xff, at, at + 4096);
      await writeFile(file, buf);
      const warnings: string[] = [];
      const back = await new RunStore(root).loadLatestCheckpoint('c', (m) => warnings.push(m));
      trials++;
      if (back?.meta.step === 10 * t + 10 && back.variables[0]!.data.every(Number.isFinite)) recovered++;
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toContain(file);
      expect(warnings[0]).toMatch(/checksum mismatch/);
      expect(warnings[0]).toContain(join(root, 'c', 'checkpoint.prev.bin'));
    }
    expect(recovered).toBe(trials);
  });

  it('both copies damaged: an error naming both files; a damaged current never pushes out the good previous one', async () => {
    const store = new RunStore(root);
    await store.createRun(record('d'));
    const cur = join(root, 'd', 'checkpoint.bin');
    const prev = join(root, 'd', 'checkpoint.prev.bin');
    await store.writeCheckpoint('d', checkpoint(10, 64, (i) => i));
    await store.writeCheckpoint('d', checkpoint(20, 64, (i) => -i));
    await writeFile(cur, (await readFile(cur)).fill(0, 100, 200));
    // a new writer (a resumed child) must not rotate the damaged file into checkpoint.prev.bin
    await new RunStore(root).writeCheckpoint('d', checkpoint(30, 64, (i) => 2 * i));
    expect(decodeCheckpoint(await readFile(prev), prev).meta.step).toBe(10);
    expect((await store.loadLatestCheckpoint('d'))!.meta.step).toBe(30);
    await writeFile(cur, (await readFile(cur)).subarray(0, 50));
    await writeFile(prev, (await readFile(prev)).fill(0xff, 60, 70));
    const err = (await new RunStore(root).loadLatestCheckpoint('d', () => {}).catch((e: unknown) => e)) as Error;
    expect(err).toBeInstanceOf(Error);
    expect(err.message).toContain(cur);
    expect(err.message).toContain(prev);
  });

  it('format-1 checkpoints (no checksum) still load; non-finite weights are refused', () => {
    const v2 = encodeCheckpoint(checkpoint(5, 16, (i) => i / 3));
    expect(CHECKPOINT_VERSION).toBe(2);
    // format 1 is format 2 without the 32-byte digest (32 keeps the 8-byte alignment)
    const v1 = new Uint8Array(v2.length - 32);
    v1.set(v2.subarray(0, 12), 0);
    v1.set(v2.subarray(44), 12);
    new DataView(v1.buffer).setUint32(4, 1, true);
    expect(Array.from(decodeCheckpoint(v1).variables[0]!.data)).toEqual(Array.from(new Float32Array(16).map((_, i) => i / 3)));
    const nan = checkpoint(5, 16, (i) => (i === 3 ? NaN : i));
    expect(() => decodeCheckpoint(encodeCheckpoint(nan), 'x.bin')).toThrow(/x\.bin: variable "w" holds 1 non-finite value/);
  });
});
