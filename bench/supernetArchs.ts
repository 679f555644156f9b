/**
 * Prints, for every example space (assets/spaces/*.json), the parsed space (schema defaults filled in) and
 * its largest subnet, as one JSON object { name: { space, arch } }. bench/supernet_step_torch.py builds
 * its PyTorch reference of the supernet step from this, so both sides train the same architecture.
 *
 *   node --import tsx bench/supernetArchs.ts > archs.json
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { largestArch } from '../core/space/archCodec.js';
import { SearchSpace } from '../core/space/SearchSpace.js';

const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'assets', 'spaces');
const out: Record<string, unknown> = {};
for (const file of fs.readdirSync(dir).filter((f) => f.endsWith('.json')).sort()) {
  const space = SearchSpace.parse(JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')));
  out[file.replace(/\.json$/, '')] = { space, arch: largestArch(space) };
}
process.stdout.write(JSON.stringify(out) + '\n');
