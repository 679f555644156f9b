import { spawnSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { acquireRunLock, holderFor, isHolderAlive, LOCK_FILE, processStartTime, readLock, RunBusyError, type LockHolder } from './runLock.js';

const hasProc = existsSync('/proc/self/stat');
let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sy-lock-'));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

/** A pid no process has: one that just exited. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(r.stdout);
}

const writeLock = (h: Partial<LockHolder>) =>
  writeFile(join(dir, LOCK_FILE), JSON.stringify({ startTime: null, boot: null, nonce: 'n0', acquiredAt: 'then', ...h }));

describe('run lock', () => {
  it.runIf(hasProc)('names its holder by pid and /proc start time (field 22)', () => {
    const stat = readFileSync('/proc/self/stat', 'utf8');
    // independent parse: fields after "(comm)"; field 22 is the 20th of those counted from field 3
    const after = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    expect(processStartTime(process.pid)).toBe(after[19]);
    expect(Number(processStartTime(process.pid))).toBeGreaterThan(0);
    expect(processStartTime(deadPid())).toBeNull();
  });

  it('refuses while a live process holds it, naming the file and the pid; release frees it', async () => {
    const a = await acquireRunLock(dir, 'r');
    const err = await acquireRunLock(dir, 'r').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RunBusyError);
    expect((err as Error).message).toContain(join(dir, LOCK_FILE));
    expect((err as Error).message).toContain(`process ${process.pid}`);
    await a.release();
    expect(await readLock(dir)).toBeNull();
    const b = await acquireRunLock(dir, 'r');
    await b.release();
    // no temp files left behind
    expect((await readdir(dir)).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('takes over the lock of a dead process', async () => {
    const pid = deadPid();
    await writeLock({ pid });
    const l = await acquireRunLock(dir, 'r');
    expect((await readLock(dir))!.nonce).toBe(l.holder.nonce);
    await l.release();
  });

  it.runIf(hasProc)('takes over a lock whose pid is alive but names another process (start time differs: pid reused)', async () => {
    // pid 1 is alive on any Linux machine, but it did not start at tick 1
    expect(processStartTime(1)).not.toBe('1');
    await writeLock({ pid: 1, startTime: '1' });
    expect(isHolderAlive((await readLock(dir))!)).toBe(false);
    const l = await acquireRunLock(dir, 'r');
    expect((await readLock(dir))!.pid).toBe(process.pid);
    await l.release();
    // while the same pid with its real start time holds the run
    await writeLock({ pid: 1, startTime: processStartTime(1) });
    await expect(acquireRunLock(dir, 'r')).rejects.toBeInstanceOf(RunBusyError);
  });

  it('takes over an unparsable lock (it cannot name a live holder)', async () => {
    await writeFile(join(dir, LOCK_FILE), '{"pid": 12');
    const l = await acquireRunLock(dir, 'r');
    expect((await readLock(dir))!.nonce).toBe(l.holder.nonce);
  });

  it('many takers racing for a stale lock: exactly one wins, every time', async () => {
    const trials = 25;
    const takers = 8;
    let wins = 0;
    const dead = deadPid();
    for (let t = 0; t < trials; t++) {
      await writeLock({ pid: dead, nonce: `stale-${t}` });
      // each taker is its own acquisition (own nonce); the winner's holder is this live process
      const results = await Promise.allSettled(Array.from({ length: takers }, () => acquireRunLock(dir, 'r', holderFor(process.pid))));
      const won = results.filter((r) => r.status === 'fulfilled');
      const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      expect(won).toHaveLength(1);
      lost.forEach((r) => expect(r.reason).toBeInstanceOf(RunBusyError));
      expect(JSON.parse(await readFile(join(dir, LOCK_FILE), 'utf8')).nonce).toBe((won[0] as PromiseFulfilledResult<{ holder: LockHolder }>).value.holder.nonce);
      wins += won.length;
      await rm(join(dir, LOCK_FILE));
    }
    expect(wins).toBe(trials);
  });
});
