/**
 * Accuracy of the fitted latency table (core/search/LatencyTable.ts) on this machine:
 * for each repeat, fit a fresh table to whole-subnet timings (calibrateLatencyTable: its own held-out
 * check), then time a further set of subnets drawn independently, later, and report the table's mean
 * absolute % error and Kendall τ-b on those too. Latency does not depend on the weights, so a freshly
 * initialised supernet of the space is timed.
 *
 *   node --import tsx bench/latencyModel.ts [--space fashion-mlp-supernet] [--backend cpu] [--repeats 3]
 *        [--batch 1] [--extra 32] [--runs 15] [--rounds 3] [--warmup 3]   (timing: DEFAULT_TIMING unless given)
 */
import { parseArgs } from 'node:util';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { selectBackend } from '../core/nn/backend.js';
import { buildSupernet } from '../core/nn/Supernet.js';
import type { BackendChoice } from '../core/protocol/protocol.js';
import { archKey, sampleArch } from '../core/space/archCodec.js';
import { listExampleSpaces } from '../core/space/exampleSpaces.js';
import { createRng } from '../core/space/rng.js';
import { SearchSpace } from '../core/space/SearchSpace.js';
import { subnetGraph } from '../core/search/evaluateSubnet.js';
import { calibrateLatencyTable } from '../core/search/latencyCalibration.js';
import { DEFAULT_TIMING, LatencyTable, latencyTablePath, meanAbsPercentError, measureGraphLatencies, type TimingOptions } from '../core/search/LatencyTable.js';
import { kendallTauB } from '../core/search/rankCorrelation.js';

const { values: a } = parseArgs({
  options: {
    space: { type: 'string', default: 'fashion-mlp-supernet' },
    backend: { type: 'string', default: 'cpu' },
    repeats: { type: 'string', default: '3' },
    batch: { type: 'string', default: '1' },
    extra: { type: 'string', default: '32' },
    runs: { type: 'string' },
    rounds: { type: 'string' },
    warmup: { type: 'string' },
  },
});
const backend = await selectBackend(a.backend as BackendChoice);
const space = SearchSpace.parse(listExampleSpaces().find((e) => e.id === a.space)!.space);
const net = buildSupernet(space, { seed: 1 });
const timing: TimingOptions = {
  ...DEFAULT_TIMING,
  batchSize: Number(a.batch),
  ...(a.runs ? { runs: Number(a.runs) } : {}),
  ...(a.rounds ? { rounds: Number(a.rounds) } : {}),
  ...(a.warmup ? { warmup: Number(a.warmup) } : {}),
};
console.log(
  `latency model on ${backend.name} (${backend.device}), ${space.name}, batch ${timing.batchSize}; ` +
    `each subnet: ${timing.warmup} warm-up runs, then the median over ${timing.rounds} interleaved rounds of the minimum of ${timing.runs} runs, each synchronised by downloading the output`,
);
for (let rep = 1; rep <= Number(a.repeats); rep++) {
  const runsDir = join(await mkdtemp(join(tmpdir(), 'sy-latbench-')), 'runs');
  const table = await LatencyTable.open({ path: latencyTablePath(runsDir, backend.name, backend.device, space), backend: backend.name, device: backend.device, space, timing });
  const t0 = performance.now();
  const r = await calibrateLatencyTable(table, net, { seed: rep });
  const secs = (performance.now() - t0) / 1000;
  const c = table.check!;
  // Independent subnets, timed after the fit: not used to fit or to check it.
  const used = new Set([...r.fit, ...r.heldOut].map(archKey));
  const rng = createRng(1000 + rep);
  const extra = [];
  for (let i = 0; i < 2000 && extra.length < Number(a.extra); i++) {
    const arch = sampleArch(space, rng);
    if (used.has(archKey(arch))) continue;
    used.add(archKey(arch));
    extra.push(await subnetGraph(net, arch));
  }
  const measured = await measureGraphLatencies(extra, timing);
  const predicted = await Promise.all(extra.map((g) => table.predict(g)));
  const mape = meanAbsPercentError(predicted, measured);
  const tau = kendallTauB(predicted, measured);
  console.log(
    `repeat ${rep}: fit ${c.fitN} subnets, ${table.size} entries, intercept ${table.interceptMs.toFixed(3)} ms (${secs.toFixed(0)} s); ` +
      `held-out n=${c.n}: MAPE ${c.mapePct?.toFixed(1)} %, τ ${c.tau?.toFixed(3)} (${c.passed ? 'pass' : 'FAIL'}); ` +
      `later independent n=${extra.length}: MAPE ${mape.toFixed(1)} %, τ ${tau.toFixed(3)}; measured ${Math.min(...measured).toFixed(3)}–${Math.max(...measured).toFixed(3)} ms`,
  );
}
net.dispose();
