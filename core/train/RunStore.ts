/**
 * The runs folder on disk. One folder per run:
 *   run.json             RunRecord (summary, config, backend), replaced atomically
 *   metrics.jsonl        one MetricPoint per line, append-only; a torn last line (crash) is skipped on read;
 *                        read as a stream (it may be far larger than memory allows as one string)
 *   specialization.json  the latest Specialization snapshot
 *   checkpoint.bin       the latest checkpoint (checkpointFormat.ts, checksummed), replaced atomically
 *   checkpoint.prev.bin  the one before it, the fallback when checkpoint.bin is damaged
 *   owner.lock           the process training the run, pid and start time (runLock.ts)
 */
import { randomBytes } from 'node:crypto';
import { appendFile, copyFile, link, mkdir, open, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { homedir } from 'node:os';
import { join } from 'node:path';
import {
  issuesOf,
  METRICS_PAGE_DEFAULT,
  MetricPoint,
  RunLabels,
  RunRecord,
  Specialization,
  type RunSummary,
  type TrainConfig,
} from '../protocol/protocol.js';
import { DEFAULT_VAL_FRACTION } from '../data/Dataset.js';
import { atomicWriteFile } from './atomicWrite.js';
import { decodeCheckpoint, encodeCheckpoint, type Checkpoint } from './checkpointFormat.js';
import { acquireRunLock, holderFor, LOCK_FILE, readLock, type LockHolder, type RunLock } from './runLock.js';

export { isProcessAlive } from './runLock.js';

export const RUN_FILES = {
  record: 'run.json',
  metrics: 'metrics.jsonl',
  specialization: 'specialization.json',
  checkpoint: 'checkpoint.bin',
  checkpointPrev: 'checkpoint.prev.bin',
  owner: LOCK_FILE,
  /** The user's name and tags (runs.update), apart from run.json, which the training process rewrites. */
  labels: 'labels.json',
} as const;

/**
 * Where runs live: $SWITCHYARD_RUNS_DIR, else the platform's per-user data folder
 * ($XDG_DATA_HOME or ~/.local/share on Linux, ~/Library/Application Support on macOS, %APPDATA% on Windows).
 */
export function defaultRunsDir(
  env: NodeJS.ProcessEnv = process.env,
  platform: NodeJS.Platform = process.platform,
  home: string = homedir(),
): string {
  if (env.SWITCHYARD_RUNS_DIR) return env.SWITCHYARD_RUNS_DIR;
  if (platform === 'darwin') return join(home, 'Library', 'Application Support', 'Switchyard', 'runs');
  if (platform === 'win32') return join(env.APPDATA ?? join(home, 'AppData', 'Roaming'), 'Switchyard', 'runs');
  return join(env.XDG_DATA_HOME || join(home, '.local', 'share'), 'switchyard', 'runs');
}

/** The record of a run that has not started yet (status 'queued', no metrics). */
export function newRunRecord(id: string, config: TrainConfig, name = `${config.space.name} · ${config.strategy}`): RunRecord {
  return {
    // The validation share is written out, so a run from before validation splits (no valFraction:
    // it trained on the images now held out) can be told apart and its searches warned.
    config: { ...config, data: { ...config.data, valFraction: config.data.valFraction ?? DEFAULT_VAL_FRACTION } },
    summary: {
      id,
      name: config.name ?? name,
      createdAt: new Date().toISOString(),
      status: 'queued',
      strategy: config.strategy,
      step: 0,
      steps: config.steps,
      backend: config.backend,
      device: '',
      spaceName: config.space.name,
      dataKind: config.data.kind,
      lastLoss: null,
      lastAccuracy: null,
      bestValAccuracy: null,
    },
  };
}

export class RunNotFoundError extends Error {
  constructor(readonly runId: string) {
    super(`run "${runId}" not found`);
    this.name = 'RunNotFoundError';
  }
}

/** run.json is there but cannot be read or does not validate; the message names the file and why. */
export class RunDamagedError extends Error {
  constructor(
    readonly runId: string,
    readonly file: string,
    readonly reason: string,
  ) {
    super(`${file}: ${reason}`);
    this.name = 'RunDamagedError';
  }
}

/** metrics.jsonl could not be read to the end; nothing was rewritten. */
export class MetricsReadError extends Error {
  constructor(
    readonly file: string,
    cause: unknown,
  ) {
    const code = (cause as NodeJS.ErrnoException).code;
    super(`${file}: cannot read the metric history (${code ?? (cause instanceof Error ? cause.message : String(cause))}); the file was left as it is`);
    this.name = 'MetricsReadError';
  }
}

export interface MetricsPage {
  points: MetricPoint[];
  /** Complete lines in metrics.jsonl. */
  total: number;
  nextOffset: number | null;
}

/** Byte ranges of the complete lines of one metrics.jsonl inode, extended as the file grows. */
interface LineIndex {
  ino: number;
  /** Bytes indexed: the start of the trailing partial line, if any. */
  scanned: number;
  starts: number[];
  ends: number[];
}

const RUN_ID = /^[\w.-]+$/;
const INDEX_CACHE = 16;
const SCAN_CHUNK = 1 << 20;
const SPAN_BYTES = 1 << 18;

function parsePoint(line: string): MetricPoint | null {
  if (!line.trim()) return null;
  try {
    const r = MetricPoint.safeParse(JSON.parse(line));
    return r.success ? r.data : null;
  } catch {
    return null; // torn line
  }
}

export class RunStore {
  constructor(readonly root: string = defaultRunsDir()) {}

  runDir(runId: string): string {
    // Ids come from clients: refuse anything that could step outside the runs folder.
    if (!RUN_ID.test(runId) || runId === '.' || runId === '..') throw new RunNotFoundError(runId);
    return join(this.root, runId);
  }

  /** A sortable, unique id: UTC timestamp plus a random suffix. */
  newRunId(now = new Date()): string {
    const ts = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
    return `${ts}-${randomBytes(3).toString('hex')}`;
  }

  async createRun(record: RunRecord): Promise<string> {
    const dir = this.runDir(record.summary.id);
    await mkdir(dir, { recursive: true });
    await this.writeRecord(record);
    await writeFile(join(dir, RUN_FILES.metrics), '', { flag: 'a' });
    return dir;
  }

  async exists(runId: string): Promise<boolean> {
    try {
      await readFile(join(this.runDir(runId), RUN_FILES.record));
      return true;
    } catch {
      return false;
    }
  }

  async readRecord(runId: string): Promise<RunRecord> {
    const file = join(this.runDir(runId), RUN_FILES.record);
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') throw new RunNotFoundError(runId);
      throw new RunDamagedError(runId, file, `cannot be read (${code ?? String(e)})`);
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (e) {
      throw new RunDamagedError(runId, file, `not valid JSON (${(e as Error).message})`);
    }
    const r = RunRecord.safeParse(json);
    if (!r.success) {
      const first = issuesOf(r.error)[0];
      throw new RunDamagedError(runId, file, first ? `${first.path || '(root)'}: ${first.message}` : 'does not validate');
    }
    const labels = await this.readLabels(runId);
    if (labels.name) r.data.summary.name = labels.name;
    if (labels.tags) r.data.summary.tags = labels.tags;
    return r.data;
  }

  /** The run's labels; a missing or unreadable labels.json is no labels (the run itself is intact). */
  async readLabels(runId: string): Promise<RunLabels> {
    try {
      const r = RunLabels.safeParse(JSON.parse(await readFile(join(this.runDir(runId), RUN_FILES.labels), 'utf8')));
      return r.success ? r.data : {};
    } catch {
      return {};
    }
  }

  /** Merge `patch` into the run's labels (absent fields stay). */
  async writeLabels(runId: string, patch: RunLabels): Promise<RunLabels> {
    const next = { ...(await this.readLabels(runId)), ...patch };
    await atomicWriteFile(join(this.runDir(runId), RUN_FILES.labels), JSON.stringify(next));
    return next;
  }

  async writeRecord(record: RunRecord): Promise<void> {
    await atomicWriteFile(join(this.runDir(record.summary.id), RUN_FILES.record), JSON.stringify(record, null, 2));
  }

  /** Read-modify-write of the summary; returns the new record. */
  async updateSummary(runId: string, patch: Partial<RunSummary>): Promise<RunRecord> {
    const rec = await this.readRecord(runId);
    rec.summary = { ...rec.summary, ...patch, id: runId };
    await this.writeRecord(rec);
    return rec;
  }

  async appendMetrics(runId: string, points: MetricPoint[]): Promise<void> {
    if (points.length === 0) return;
    // One write call per batch keeps lines whole unless the process dies mid-write.
    await appendFile(join(this.runDir(runId), RUN_FILES.metrics), points.map((p) => JSON.stringify(p) + '\n').join(''));
  }

  /**
   * Every line of metrics.jsonl, streamed (a long history can be larger than one string may be). A
   * missing file is an empty history; any other read error throws MetricsReadError naming the file.
   */
  private async *metricLines(runId: string): AsyncGenerator<string> {
    const file = join(this.runDir(runId), RUN_FILES.metrics);
    const input = createReadStream(file, { encoding: 'utf8' });
    const lines = createInterface({ input, crlfDelay: Infinity });
    try {
      for await (const line of lines) yield line;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw new MetricsReadError(file, e);
    } finally {
      lines.close();
      input.destroy();
    }
  }

  /** All metric points; a torn or corrupt line (a crash mid-append) is skipped. */
  async readMetrics(runId: string): Promise<MetricPoint[]> {
    const out: MetricPoint[] = [];
    for await (const line of this.metricLines(runId)) {
      const p = parsePoint(line);
      if (p) out.push(p);
    }
    return out;
  }

  /**
   * Drop points after `step` (those trained after the checkpoint a resume starts from) and any torn
   * line, so the resumed history continues without duplicates. Streams into a temp file that replaces
   * the history only once all of it was read: on a read error the old file stays and this throws.
   */
  async truncateMetrics(runId: string, step: number): Promise<void> {
    const lines = this.metricLines(runId);
    async function* kept() {
      for await (const line of lines) {
        const p = parsePoint(line);
        if (p && p.step <= step) yield JSON.stringify(p) + '\n';
      }
    }
    await atomicWriteFile(join(this.runDir(runId), RUN_FILES.metrics), kept());
  }

  private readonly lineIndexes = new Map<string, LineIndex>();

  /**
   * One page of the history: lines [offset, offset + limit × stride), every stride-th. Lines are found
   * by a newline scan (no parsing) kept per file and extended as the file grows, so paging through a
   * long history reads it about once; only the lines picked are parsed.
   */
  async readMetricsPage(runId: string, opts: { offset?: number; limit?: number; stride?: number } = {}): Promise<MetricsPage> {
    const offset = opts.offset ?? 0;
    const limit = opts.limit ?? METRICS_PAGE_DEFAULT;
    const stride = opts.stride ?? 1;
    const file = join(this.runDir(runId), RUN_FILES.metrics);
    let fh;
    try {
      fh = await open(file, 'r');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { points: [], total: 0, nextOffset: null };
      throw new MetricsReadError(file, e);
    }
    try {
      const idx = await this.indexLines(runId, fh);
      const total = idx.starts.length;
      const picks: number[] = [];
      for (let i = offset; i < total && picks.length < limit; i += stride) picks.push(i);
      // Read the picked lines in spans of up to SPAN_BYTES (one read for a run of adjacent lines), and
      // let other clients in between spans: parsing a page is the slow part.
      const points: MetricPoint[] = [];
      for (let g = 0; g < picks.length; ) {
        let h = g + 1;
        while (h < picks.length && idx.ends[picks[h]!]! - idx.starts[picks[g]!]! <= SPAN_BYTES) h++;
        const base = idx.starts[picks[g]!]!;
        const buf = Buffer.alloc(idx.ends[picks[h - 1]!]! - base);
        const { bytesRead } = await fh.read(buf, 0, buf.length, base);
        for (let k = g; k < h; k++) {
          const i = picks[k]!;
          if (idx.ends[i]! - base > bytesRead) break;
          const p = parsePoint(buf.toString('utf8', idx.starts[i]! - base, idx.ends[i]! - base));
          if (p) points.push(p);
        }
        g = h;
        if (g < picks.length) await new Promise((r) => setImmediate(r));
      }
      const next = picks.length ? picks.at(-1)! + stride : offset;
      return { points, total, nextOffset: next < total ? next : null };
    } catch (e) {
      throw e instanceof MetricsReadError ? e : new MetricsReadError(file, e);
    } finally {
      await fh.close();
    }
  }

  private async indexLines(runId: string, fh: import('node:fs/promises').FileHandle): Promise<LineIndex> {
    const st = await fh.stat();
    if (!st.isFile()) throw new Error('not a regular file');
    let idx = this.lineIndexes.get(runId);
    // Appends keep the inode and grow the file; a truncation replaces the file (atomic rename).
    if (!idx || idx.ino !== st.ino || st.size < idx.scanned) idx = { ino: st.ino, scanned: 0, starts: [], ends: [] };
    this.lineIndexes.delete(runId);
    this.lineIndexes.set(runId, idx);
    if (this.lineIndexes.size > INDEX_CACHE) this.lineIndexes.delete(this.lineIndexes.keys().next().value!);
    const buf = Buffer.alloc(SCAN_CHUNK);
    let lineStart = idx.scanned;
    let pos = idx.scanned;
    while (pos < st.size) {
      const { bytesRead } = await fh.read(buf, 0, Math.min(SCAN_CHUNK, st.size - pos), pos);
      if (bytesRead === 0) break;
      let from = 0;
      for (let nl = buf.indexOf(10, from); nl !== -1 && nl < bytesRead; nl = buf.indexOf(10, from)) {
        const end = pos + nl;
        if (end > lineStart) {
          idx.starts.push(lineStart);
          idx.ends.push(end);
        }
        lineStart = end + 1;
        from = nl + 1;
      }
      pos += bytesRead;
    }
    idx.scanned = lineStart;
    return idx;
  }

  async writeSpecialization(runId: string, s: Specialization): Promise<void> {
    await atomicWriteFile(join(this.runDir(runId), RUN_FILES.specialization), JSON.stringify(s));
  }

  async readSpecialization(runId: string): Promise<Specialization | null> {
    try {
      const text = await readFile(join(this.runDir(runId), RUN_FILES.specialization), 'utf8');
      return Specialization.parse(JSON.parse(text));
    } catch {
      return null;
    }
  }

  /** Runs whose checkpoint.bin this store wrote or verified, so it can become checkpoint.prev.bin. */
  private readonly verifiedCheckpoint = new Set<string>();

  /**
   * Keep the current checkpoint as checkpoint.prev.bin (a hard link: no copy, and checkpoint.bin
   * never goes missing), then replace checkpoint.bin atomically. A current file that is not known to
   * be intact is verified first: a damaged one must not push out the good previous one.
   */
  async writeCheckpoint(runId: string, ckpt: Checkpoint): Promise<void> {
    const dir = this.runDir(runId);
    const cur = join(dir, RUN_FILES.checkpoint);
    const prev = join(dir, RUN_FILES.checkpointPrev);
    let rotate = this.verifiedCheckpoint.has(runId);
    if (!rotate) {
      try {
        decodeCheckpoint(await readFile(cur), cur);
        rotate = true;
      } catch {
        rotate = false; // none yet, or damaged: keep the previous one
      }
    }
    if (rotate) {
      const temp = join(dir, `.${RUN_FILES.checkpointPrev}.${process.pid}.tmp`);
      await rm(temp, { force: true });
      try {
        await link(cur, temp);
      } catch {
        await copyFile(cur, temp); // file systems without hard links
      }
      await rename(temp, prev);
    }
    await atomicWriteFile(cur, encodeCheckpoint(ckpt));
    this.verifiedCheckpoint.add(runId);
  }

  /**
   * The latest intact checkpoint of a run, or null if it has none yet. A damaged checkpoint.bin
   * (checksum, truncation, non-finite weights) falls back to checkpoint.prev.bin with a warning naming
   * the file; if both are unusable this throws, naming both.
   */
  async loadLatestCheckpoint(runId: string, onWarning: (message: string) => void = (m) => console.warn(m)): Promise<Checkpoint | null> {
    const dir = this.runDir(runId);
    const load = async (file: string): Promise<{ ckpt?: Checkpoint; missing?: true; error?: string }> => {
      let buf: Buffer;
      try {
        buf = await readFile(file);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { missing: true };
        return { error: `${file}: cannot be read (${(e as NodeJS.ErrnoException).code ?? String(e)})` };
      }
      try {
        return { ckpt: decodeCheckpoint(buf, file) };
      } catch (e) {
        return { error: e instanceof Error ? e.message : String(e) };
      }
    };
    const cur = join(dir, RUN_FILES.checkpoint);
    const prev = join(dir, RUN_FILES.checkpointPrev);
    const a = await load(cur);
    if (a.ckpt) {
      this.verifiedCheckpoint.add(runId);
      return a.ckpt;
    }
    const b = await load(prev);
    if (a.missing && b.missing) return null;
    if (b.ckpt) {
      onWarning(`${a.missing ? `${cur} is missing` : a.error}; continuing from the previous checkpoint ${prev} (step ${b.ckpt.meta.step})`);
      return b.ckpt;
    }
    throw new Error(`no intact checkpoint: ${a.error ?? `${cur} is missing`}; ${b.error ?? `${prev} is missing`}`);
  }

  /** Take the run's lock for this process (throws RunBusyError if a live process holds it). */
  async acquireOwner(runId: string): Promise<RunLock> {
    return acquireRunLock(this.runDir(runId), runId);
  }

  /** The process holding the run's lock, if any (alive or not: see isHolderAlive). */
  async readOwnerLock(runId: string): Promise<LockHolder | null> {
    return readLock(this.runDir(runId));
  }

  /** Write a lock naming `pid` (tests, and tools that adopt a run); prefer acquireOwner. */
  async writeOwner(runId: string, pid: number): Promise<void> {
    await atomicWriteFile(join(this.runDir(runId), RUN_FILES.owner), JSON.stringify(holderFor(pid)));
  }

  async readOwner(runId: string): Promise<number | null> {
    return (await this.readOwnerLock(runId).catch(() => null))?.pid ?? null;
  }

  /**
   * Every run, newest first. A folder whose run.json cannot be read or does not validate is listed as
   * 'damaged', its `error` naming the file and the reason, so it does not silently vanish; folders
   * with nothing of a run in them are skipped.
   */
  async list(): Promise<RunSummary[]> {
    let names: string[];
    try {
      names = await readdir(this.root);
    } catch {
      return [];
    }
    const out: RunSummary[] = [];
    for (const name of names) {
      if (!RUN_ID.test(name)) continue;
      try {
        out.push((await this.readRecord(name)).summary);
      } catch (e) {
        const damaged = e instanceof RunDamagedError ? e : await this.missingRecord(name);
        if (damaged) out.push(await this.damagedSummary(name, damaged));
      }
    }
    return out.sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : b.id.localeCompare(a.id)));
  }

  /** A folder that holds run files but no run.json is a damaged run; anything else is not a run. */
  private async missingRecord(runId: string): Promise<RunDamagedError | null> {
    const dir = this.runDir(runId);
    const files = await readdir(dir).catch(() => [] as string[]);
    const runFiles: string[] = [RUN_FILES.metrics, RUN_FILES.checkpoint, RUN_FILES.checkpointPrev];
    return files.some((f) => runFiles.includes(f)) ? new RunDamagedError(runId, join(dir, RUN_FILES.record), 'is missing') : null;
  }

  private async damagedSummary(runId: string, e: RunDamagedError): Promise<RunSummary> {
    // Keep what can be salvaged from the file for the list; the rest is placeholder.
    let partial: Record<string, unknown> = {};
    try {
      const json = JSON.parse(await readFile(e.file, 'utf8')) as { summary?: unknown };
      if (json && typeof json.summary === 'object' && json.summary) partial = json.summary as Record<string, unknown>;
    } catch {
      // nothing to salvage
    }
    const str = (k: string, d: string) => (typeof partial[k] === 'string' ? (partial[k] as string) : d);
    const int = (k: string) => (Number.isInteger(partial[k]) ? (partial[k] as number) : 0);
    const created = await stat(this.runDir(runId)).then((s) => s.mtime.toISOString(), () => new Date(0).toISOString());
    return {
      id: runId,
      name: str('name', runId),
      createdAt: str('createdAt', created),
      status: 'damaged',
      strategy: partial.strategy === 'plain' || partial.strategy === 'sandwich' ? partial.strategy : 'spos',
      step: int('step'),
      steps: int('steps'),
      backend: str('backend', ''),
      device: str('device', ''),
      spaceName: str('spaceName', ''),
      dataKind: str('dataKind', ''),
      lastLoss: null,
      lastAccuracy: null,
      bestValAccuracy: null,
      error: e.message,
    };
  }

  /** Remove temp files a crash left between write and rename (atomicWrite's `.name.pid.n.tmp`). */
  async removeStaleTempFiles(runId: string): Promise<number> {
    const dir = this.runDir(runId);
    const stale = (await readdir(dir)).filter((f) => f.startsWith('.') && f.endsWith('.tmp'));
    await Promise.all(stale.map((f) => rm(join(dir, f), { force: true })));
    return stale.length;
  }

  async deleteRun(runId: string): Promise<void> {
    await rm(this.runDir(runId), { recursive: true, force: true });
  }
}
