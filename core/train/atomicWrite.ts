/**
 * Crash-safe file replacement: write a temp file beside the target, fsync it, rename it over the
 * target, then fsync the folder so the rename itself survives a power loss. A crash at any point
 * leaves either the old file or the new one, never a torn mix.
 */
import { open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

export interface AtomicWriteHooks {
  /** Test seam: runs after the temp file is durable and before the rename. */
  beforeRename?: (tempPath: string) => void | Promise<void>;
}

let counter = 0;

/** `data` may be an async iterable (streamed, e.g. a rewritten metrics file); if it throws, the target is untouched. */
export async function atomicWriteFile(path: string, data: Uint8Array | string | AsyncIterable<string | Uint8Array>, hooks: AtomicWriteHooks = {}): Promise<void> {
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}.${counter++}.tmp`);
  const fh = await open(temp, 'w');
  try {
    await fh.writeFile(data);
    await fh.sync();
  } catch (e) {
    await fh.close();
    await rm(temp, { force: true });
    throw e;
  }
  await fh.close();
  await hooks.beforeRename?.(temp);
  await rename(temp, path);
  await syncDir(dirname(path));
}

async function syncDir(dir: string): Promise<void> {
  // Windows cannot open a folder for fsync; its rename is already durable enough (MoveFileEx).
  if (process.platform === 'win32') return;
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
