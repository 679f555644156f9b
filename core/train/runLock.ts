/**
 * One trainer per run: `owner.lock` in the run's folder names the process that trains it. The lock is
 * created atomically (the content is written to a temp file first and hard-linked into place, so the
 * lock never exists half-written and link() fails if it already exists), and it names its holder by
 * pid AND process start time (Linux: /proc/<pid>/stat field 22, plus the boot id), so a pid reused by
 * an unrelated process, e.g. after a reboot, does not hold the run forever. Where /proc is missing the
 * start time is null and the pid alone decides.
 *
 * A stale lock (holder dead, or its pid now names another process) is broken under a short mutex
 * (`owner.lock.break`, created O_EXCL): the breaker re-reads the lock inside it and removes it only if it
 * is still the very lock judged stale (same nonce), so two takers can never remove a fresh lock; both
 * then race on link() and exactly one wins.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { link, open, readFile, rm, unlink } from 'node:fs/promises';
import { join } from 'node:path';

export const LOCK_FILE = 'owner.lock';

export interface LockHolder {
  pid: number;
  /** Start time of the process in clock ticks since boot (/proc/<pid>/stat field 22); null where unknown. */
  startTime: string | null;
  /** /proc/sys/kernel/random/boot_id of the machine the holder ran on; null where unknown. */
  boot: string | null;
  /**
   * Host name of the holder's machine (a runs folder shared by job-queue workers on several machines);
   * null in locks from before it was recorded. A pid on another machine cannot be probed from here.
   */
  host?: string | null;
  /** Unique per acquisition: tells one lock from another held by the same process. */
  nonce: string;
  acquiredAt: string;
}

export class RunBusyError extends Error {
  constructor(
    readonly runId: string,
    readonly holder: LockHolder,
    file: string,
  ) {
    super(`run "${runId}" is being trained by process ${holder.pid}${holder.host && holder.host !== hostname() ? ` on ${holder.host}` : ''} (${file}, since ${holder.acquiredAt})`);
    this.name = 'RunBusyError';
  }
}

/** Start time of a process (ticks since boot), or null where /proc cannot tell. */
export function processStartTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 2 (comm) is in parentheses and may itself hold spaces or ')': count fields after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[22 - 3] ?? null;
  } catch {
    return null;
  }
}

let bootId: string | null | undefined;
function currentBootId(): string | null {
  if (bootId === undefined) {
    try {
      bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    } catch {
      bootId = null;
    }
  }
  return bootId;
}

/** True if a process with this pid is alive (signal 0 probes without signalling). */
export function isProcessAlive(pid: number): boolean {
  // kill(0 or negative) would probe a process group, not a process.
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * True while the lock's holder is the live process that took it (not a later process with its pid).
 * A holder on another machine counts as alive: this machine cannot tell (core/queue/worker.ts takes
 * over such a lock only once BullMQ has found that machine's job lock expired).
 */
export function isHolderAlive(h: LockHolder): boolean {
  if (h.host && h.host !== hostname()) return true;
  const boot = currentBootId();
  if (h.boot && boot && h.boot !== boot) return false;
  if (!isProcessAlive(h.pid)) return false;
  if (h.startTime === null) return true;
  const now = processStartTime(h.pid);
  return now === null || now === h.startTime;
}

function parseHolder(text: string): LockHolder | null {
  try {
    const o = JSON.parse(text) as Partial<LockHolder>;
    if (typeof o.pid !== 'number' || typeof o.nonce !== 'string') return null;
    return {
      pid: o.pid,
      startTime: typeof o.startTime === 'string' ? o.startTime : null,
      boot: typeof o.boot === 'string' ? o.boot : null,
      host: typeof o.host === 'string' ? o.host : null,
      nonce: o.nonce,
      acquiredAt: typeof o.acquiredAt === 'string' ? o.acquiredAt : '?',
    };
  } catch {
    return null;
  }
}

/** The lock's holder; null if there is no lock. A lock that cannot be parsed reads as a dead holder. */
export async function readLock(dir: string): Promise<LockHolder | null> {
  let text: string;
  try {
    text = await readFile(join(dir, LOCK_FILE), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  // Locks are linked into place complete, so an unparsable one was damaged by something else.
  return parseHolder(text) ?? { pid: -1, startTime: null, boot: null, nonce: `unparsable:${text.length}:${text.slice(0, 64)}`, acquiredAt: '?' };
}

export function holderFor(pid: number): LockHolder {
  return {
    pid,
    startTime: processStartTime(pid),
    boot: currentBootId(),
    host: hostname(),
    nonce: randomBytes(8).toString('hex'),
    acquiredAt: new Date().toISOString(),
  };
}

export interface RunLock {
  holder: LockHolder;
  /** Remove the lock if it is still this one. */
  release(): Promise<void>;
}

async function writeExclusive(path: string, text: string): Promise<boolean> {
  let fh;
  try {
    fh = await open(path, 'wx');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  }
  try {
    await fh.writeFile(text);
    await fh.sync();
  } finally {
    await fh.close();
  }
  return true;
}

/**
 * Take the run's lock for this process, breaking a stale one. Throws RunBusyError when a live process
 * holds it. `holder` is a test seam (a lock on behalf of another pid).
 */
export async function acquireRunLock(dir: string, runId: string, holder: LockHolder = holderFor(process.pid)): Promise<RunLock> {
  const lockPath = join(dir, LOCK_FILE);
  const breakPath = `${lockPath}.break`;
  const temp = join(dir, `.${LOCK_FILE}.${process.pid}.${holder.nonce}.tmp`);
  if (!(await writeExclusive(temp, JSON.stringify(holder)))) throw new Error(`${temp}: exists`);
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        await link(temp, lockPath);
        return {
          holder,
          release: async () => {
            const cur = await readLock(dir).catch(() => null);
            if (cur?.nonce === holder.nonce) await rm(lockPath, { force: true });
          },
        };
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      const cur = await readLock(dir);
      if (!cur) continue; // released between link() and read: try again
      if (isHolderAlive(cur)) throw new RunBusyError(runId, cur, lockPath);
      if (attempt > 50) throw new Error(`${lockPath}: could not break the stale lock of process ${cur.pid}`);
      // Stale: break it under the mutex, re-checking that it is still the lock judged stale.
      const me = JSON.stringify(holder);
      if (await writeExclusive(breakPath, me)) {
        try {
          const again = await readLock(dir);
          if (again && again.nonce === cur.nonce) await unlink(lockPath);
        } finally {
          await rm(breakPath, { force: true });
        }
      } else {
        // Someone else is breaking it; a breaker that died inside its few-statement window leaves the
        // mutex behind: remove it once its process is gone.
        const text = await readFile(breakPath, 'utf8').catch(() => '');
        const breaker = parseHolder(text);
        if (text && (!breaker || !isHolderAlive(breaker))) await rm(breakPath, { force: true });
        else await new Promise((r) => setTimeout(r, 5));
      }
    }
  } finally {
    await rm(temp, { force: true });
  }
}
