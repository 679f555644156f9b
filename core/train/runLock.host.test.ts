/**
 * Run locks in a runs folder shared by machines (job-queue workers, core/queue): a lock names its
 * holder's host, and a pid of another machine is never probed here — it would name some unrelated
 * local process, or none, and a live remote trainer's run would be taken over.
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { acquireRunLock, isHolderAlive, LOCK_FILE, RunBusyError } from './runLock.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sy-lockhost-'));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

const deadPid = () => Number(spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout);

describe('run lock across machines', () => {
  it('records the host name of its holder', async () => {
    const lock = await acquireRunLock(dir, 'r');
    expect(JSON.parse(await readFile(join(dir, LOCK_FILE), 'utf8')).host).toBe(hostname());
    await lock.release();
  });

  it("counts another machine's holder as alive, even with a pid that is dead here, and refuses to take its run", async () => {
    const pid = deadPid();
    const remote = { pid, startTime: '123', boot: 'other-boot', host: `${hostname()}-elsewhere`, nonce: 'n1', acquiredAt: 'then' };
    expect(isHolderAlive(remote)).toBe(true);
    expect(isHolderAlive({ ...remote, host: hostname(), boot: null, startTime: null })).toBe(false);
    await writeFile(join(dir, LOCK_FILE), JSON.stringify(remote));
    const err = await acquireRunLock(dir, 'r').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RunBusyError);
    expect((err as Error).message).toContain(`on ${remote.host}`);
  });

  it('still breaks a stale lock of this machine, and one from before hosts were recorded', async () => {
    for (const host of [hostname(), undefined]) {
      await writeFile(join(dir, LOCK_FILE), JSON.stringify({ pid: deadPid(), startTime: null, boot: null, nonce: 'n2', acquiredAt: 'then', ...(host ? { host } : {}) }));
      const lock = await acquireRunLock(dir, 'r');
      expect(lock.holder.pid).toBe(process.pid);
      await lock.release();
    }
  });
});
