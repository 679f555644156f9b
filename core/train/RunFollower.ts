/**
 * Follows runs that another process writes into the runs folder (a CLI `switchyard train`, a queue
 * worker): without it they freeze as "running" in every client until a refresh. Polls (fs.watch is
 * unreliable on network mounts and misses appends on some platforms) the folder's run ids, each
 * run.json's mtime and each metrics.jsonl's size, and emits what changed as ordinary run events:
 * 'status' when run.json changed or a run appeared, 'metrics' for lines appended since the last look,
 * 'removed' when a folder went away. Runs this host trains itself are skipped (their child already
 * streams them).
 */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { METRICS_PAGE_MAX, type RunEvent } from '../protocol/protocol.js';
import { RUN_FILES, type RunStore } from './RunStore.js';

export interface RunFollowerOptions {
  store: RunStore;
  emit: (e: RunEvent) => void;
  /** True for runs this host trains or queues: their events come from their own child. */
  isOwned: (runId: string) => boolean;
  intervalMs?: number;
}

interface Seen {
  recordMtime: number;
  metricsSize: number;
  /** metrics.jsonl lines already streamed; null = not counted yet (counted, not sent, on the next look). */
  lines: number | null;
}

const RUN_ID = /^[\w.-]+$/;

async function mtimeAndSize(file: string): Promise<{ mtime: number; size: number } | null> {
  try {
    const st = await stat(file);
    return { mtime: st.mtimeMs, size: st.size };
  } catch {
    return null;
  }
}

export class RunFollower {
  private readonly seen = new Map<string, Seen>();
  private timer: ReturnType<typeof setInterval> | null = null;
  private polling: Promise<void> | null = null;
  private first = true;

  constructor(private readonly opts: RunFollowerOptions) {}

  start(): void {
    if (this.timer) return;
    void this.poll();
    this.timer = setInterval(() => void this.poll(), this.opts.intervalMs ?? 1000);
    this.timer.unref?.();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.polling;
  }

  /** One look at the folder (one at a time); the first only takes note of what is there. */
  poll(): Promise<void> {
    return (this.polling ??= this.look().finally(() => (this.polling = null)));
  }

  private async look(): Promise<void> {
    const { store, emit, isOwned } = this.opts;
    let names: string[];
    try {
      names = (await readdir(store.root)).filter((n) => RUN_ID.test(n) && n !== '.' && n !== '..');
    } catch {
      names = [];
    }
    const baseline = this.first;
    this.first = false;
    const present = new Set<string>();
    for (const runId of names) {
      const dir = join(store.root, runId);
      const record = await mtimeAndSize(join(dir, RUN_FILES.record));
      if (!record) continue;
      present.add(runId);
      const metrics = (await mtimeAndSize(join(dir, RUN_FILES.metrics))) ?? { mtime: 0, size: 0 };
      const prev = this.seen.get(runId);
      const owned = isOwned(runId);
      // A run that appears after the first look is new: its history is streamed from the start.
      const seen: Seen = prev ?? { recordMtime: -1, metricsSize: 0, lines: baseline ? null : 0 };
      this.seen.set(runId, seen);
      if (owned) {
        // Its own child reports it; forget the line count, it is recounted once the run is not ours.
        seen.recordMtime = record.mtime;
        seen.metricsSize = metrics.size;
        seen.lines = null;
        continue;
      }
      if (seen.recordMtime !== record.mtime) {
        seen.recordMtime = record.mtime;
        try {
          const rec = await store.readRecord(runId);
          if (!baseline) emit({ kind: 'status', runId, summary: rec.summary });
        } catch {
          // half-written or damaged: runs.list reports it; look again on its next change
          seen.recordMtime = -1;
        }
      }
      if (metrics.size === seen.metricsSize && seen.lines !== null) continue;
      // Grown: stream the new lines. Shrunk (a resume truncates to its checkpoint) or never counted: recount.
      const grew = metrics.size > seen.metricsSize;
      seen.metricsSize = metrics.size;
      await this.sendNewLines(runId, seen, baseline || seen.lines === null || !grew);
    }
    for (const runId of [...this.seen.keys()]) {
      if (present.has(runId)) continue;
      this.seen.delete(runId);
      if (!isOwned(runId)) emit({ kind: 'removed', runId });
    }
  }

  /** Stream the lines after `seen.lines` (or, with `countOnly`, just count them: nothing new to a client). */
  private async sendNewLines(runId: string, seen: Seen, countOnly: boolean): Promise<void> {
    const { store, emit } = this.opts;
    try {
      if (countOnly) {
        seen.lines = (await store.readMetricsPage(runId, { offset: 0, limit: 1 })).total;
        return;
      }
      for (let offset: number | null = seen.lines ?? 0; offset !== null; ) {
        const page = await store.readMetricsPage(runId, { offset, limit: METRICS_PAGE_MAX });
        if (page.points.length) emit({ kind: 'metrics', runId, points: page.points });
        seen.lines = page.nextOffset ?? page.total;
        offset = page.nextOffset;
      }
    } catch {
      seen.lines = null; // unreadable now: recount next time
    }
  }
}
