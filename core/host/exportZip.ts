/**
 * An export folder (<runs>/<run>/exports/<name>/) as one zip, for `serve`'s download route: on a remote
 * GPU box the server's paths are of no use to the browser, the bytes are. Only plain names are taken
 * (no separators, no dot-dot), the folder must really lie under the runs folder (symlinks resolved),
 * and only regular files inside it are packed.
 */
import { lstat, readdir, readFile, realpath } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { zip, type Zippable } from 'fflate';
import { isPlainName } from '../protocol/exportZipPath.js';

export class ExportNotFound extends Error {}

async function collect(dir: string, root: string, out: Zippable, budget: { bytes: number }): Promise<void> {
  for (const entry of await readdir(dir)) {
    const file = join(dir, entry);
    const st = await lstat(file);
    if (st.isDirectory()) await collect(file, root, out, budget);
    else if (st.isFile()) {
      budget.bytes -= st.size;
      if (budget.bytes < 0) throw new Error('the export is larger than a download may be');
      out[relative(root, file).split(sep).join('/')] = new Uint8Array(await readFile(file));
    }
    // symlinks and other kinds are left out: they could point anywhere on the server
  }
}

/** The zip of one export folder; ExportNotFound when the names do not lead to one under `runsDir`. */
export async function exportZip(runsDir: string, runId: string, name: string, maxBytes = 2 ** 31): Promise<Uint8Array> {
  if (!isPlainName(runId) || !isPlainName(name)) throw new ExportNotFound('not an export name');
  let dir: string;
  let root: string;
  try {
    root = await realpath(runsDir);
    dir = await realpath(join(runsDir, runId, 'exports', name));
  } catch {
    throw new ExportNotFound(`no export "${name}" in run "${runId}"`);
  }
  if (!dir.startsWith(join(root, runId, 'exports') + sep) || !(await lstat(dir)).isDirectory()) {
    throw new ExportNotFound(`no export "${name}" in run "${runId}"`);
  }
  const files: Zippable = {};
  await collect(dir, dir, files, { bytes: maxBytes });
  // Weights are mostly incompressible floats: a low level keeps the server responsive.
  return new Promise((ok, fail) => zip({ [name]: files }, { level: 1 }, (err, data) => (err ? fail(err) : ok(data))));
}
