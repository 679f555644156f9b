/**
 * The runs folder on disk. One folder per run:
 *   run.json             RunRecord (summary, config, backend), replaced atomically
 *   metrics.jsonl        one MetricPoint per line, append-only; a torn last line (crash) is skipped on read
 *   specialization.json  the latest Specialization snapshot
 *   checkpoint.bin       the latest checkpoint (checkpointFormat.ts), replaced atomically
 *   owner.json           pid of the process training the run (to tell a live run from a dead one)
 */
import { randomBytes } from 'node:crypto';
import { appendFile, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import {
  MetricPoint,
  RunRecord,
  Specialization,
  type RunSummary,
  type TrainConfig,
} from '../protocol/protocol.js';
import { atomicWriteFile } from './atomicWrite.js';
import { decodeCheckpoint, encodeCheckpoint, type Checkpoint } from './checkpointFormat.js';

export const RUN_FILES = {
  record: 'run.json',
  metrics: 'metrics.jsonl',
  specialization: 'specialization.json',
  checkpoint: 'checkpoint.bin',
  owner: 'owner.json',
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
    config,
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

const RUN_ID = /^[\w.-]+$/;

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
    let text: string;
    try {
      text = await readFile(join(this.runDir(runId), RUN_FILES.record), 'utf8');
    } catch {
      throw new RunNotFoundError(runId);
    }
    return RunRecord.parse(JSON.parse(text));
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

  /** All metric points; a torn or corrupt line (a crash mid-append) is skipped. */
  async readMetrics(runId: string): Promise<MetricPoint[]> {
    let text: string;
    try {
      text = await readFile(join(this.runDir(runId), RUN_FILES.metrics), 'utf8');
    } catch {
      return [];
    }
    const out: MetricPoint[] = [];
    for (const line of text.split('\n')) {
      if (!line.trim()) continue;
      try {
        const r = MetricPoint.safeParse(JSON.parse(line));
        if (r.success) out.push(r.data);
      } catch {
        // torn line
      }
    }
    return out;
  }

  /**
   * Drop points after `step` (those trained after the checkpoint a resume starts from) and any torn
   * line, so the resumed history continues without duplicates.
   */
  async truncateMetrics(runId: string, step: number): Promise<void> {
    const kept = (await this.readMetrics(runId)).filter((p) => p.step <= step);
    await atomicWriteFile(join(this.runDir(runId), RUN_FILES.metrics), kept.map((p) => JSON.stringify(p) + '\n').join(''));
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

  async writeCheckpoint(runId: string, ckpt: Checkpoint): Promise<void> {
    await atomicWriteFile(join(this.runDir(runId), RUN_FILES.checkpoint), encodeCheckpoint(ckpt));
  }

  /** The latest checkpoint of a run, or null if it has none yet. */
  async loadLatestCheckpoint(runId: string): Promise<Checkpoint | null> {
    const file = join(this.runDir(runId), RUN_FILES.checkpoint);
    let buf: Buffer;
    try {
      buf = await readFile(file);
    } catch {
      return null;
    }
    return decodeCheckpoint(buf, file);
  }

  async writeOwner(runId: string, pid: number): Promise<void> {
    await atomicWriteFile(join(this.runDir(runId), RUN_FILES.owner), JSON.stringify({ pid }));
  }

  async readOwner(runId: string): Promise<number | null> {
    try {
      const o = JSON.parse(await readFile(join(this.runDir(runId), RUN_FILES.owner), 'utf8')) as { pid?: unknown };
      return typeof o.pid === 'number' ? o.pid : null;
    } catch {
      return null;
    }
  }

  /** Every readable run, newest first; folders without a valid run.json are skipped. */
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
      } catch {
        // not a run folder
      }
    }
    return out.sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : b.id.localeCompare(a.id)));
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

/** True if a process with this pid is alive (signal 0 probes without signalling). */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
