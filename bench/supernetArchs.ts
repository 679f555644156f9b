/**
 * Prints, for every example space (assets/spaces/*.json), the parsed space (schema defaults filled in),
 * its largest subnet and the product's parameter count of that subnet (Supernet.countParams), as one JSON
 * object { name: { space, arch, params } }. bench/supernet_step_torch.py builds its PyTorch reference of the
 * supernet step from this, so both sides train the same architecture; its --selfcheck compares its own
 * parameter count with `params`.
 *
 *   node --import tsx bench/supernetArchs.ts > archs.json
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { buildSupernet } from '../core/nn/Supernet.js';
import { largestArch } from '../core/space/archCodec.js';
import { SearchSpace } from '../core/space/SearchSpace.js';

await tf.setBackend('cpu');

const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'assets', 'spaces');
const out: Record<string, unknown> = {};
for (const file of fs.readdirSync(dir).filter((f) => f.endsWith('.json')).sort()) {
  const space = SearchSpace.parse(JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')));
  const arch = largestArch(space);
  const net = buildSupernet(space, { seed: 1 });
  out[file.replace(/\.json$/, '')] = { space, arch, params: net.countParams(arch) };
  net.dispose();
}
process.stdout.write(JSON.stringify(out) + '\n');
