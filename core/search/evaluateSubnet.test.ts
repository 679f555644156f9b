import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { loadDataset } from '../data/Dataset.js';
import { buildSupernet } from '../nn/Supernet.js';
import { largestArch, sampleArch, smallestArch } from '../space/archCodec.js';
import { listExampleSpaces } from '../space/exampleSpaces.js';
import { createRng } from '../space/rng.js';
import { SearchSpace } from '../space/SearchSpace.js';
import { evaluateSubnet, measureGraphLatency, subnetGraph } from './evaluateSubnet.js';
import { calibrateLatencyTable } from './latencyCalibration.js';
import { LatencyTable, latencyTablePath, meanAbsPercentError } from './LatencyTable.js';

const space = SearchSpace.parse(listExampleSpaces().find((e) => e.id === 'fashion-mlp-supernet')!.space);

beforeAll(async () => {
  await tf.setBackend('cpu');
});
afterAll(() => tf.disposeVariables());

describe('evaluateSubnet', () => {
  it('scores accuracy, params, FLOPs and latency; the lookup table predicts latency and is reused from disk', async () => {
    const ds = await loadDataset({ kind: 'fashion-mnist', dir: '/usr/share/datasets/fashion-mnist', limit: 64, flatten: true });
    const net = buildSupernet(space, { seed: 1 });
    const runsDir = join(await mkdtemp(join(tmpdir(), 'sy-lut-')), 'runs');
    const path = latencyTablePath(runsDir, 'cpu', 'test-device', space);
    expect(path.startsWith(join(dirname(runsDir), 'latency-tables'))).toBe(true);
    const timing = { batchSize: 32, warmup: 2, runs: 5, rounds: 2 };
    // Loose thresholds: this test is about the plumbing (LatencyTable.test.ts checks the fit itself).
    const thresholds = { maxMapePct: 1000, minTau: -1 };
    const lut = await LatencyTable.open({ path, backend: 'cpu', device: 'test-device', space, timing, thresholds });
    await calibrateLatencyTable(lut, net, { seed: 1, heldOut: 6, minFit: 8, maxFit: 30 });
    const rng = createRng(3);
    const archs = [largestArch(space), smallestArch(space), sampleArch(space, rng), sampleArch(space, rng)];
    const results = [];
    for (const arch of archs) {
      const r = await evaluateSubnet({ net, val: ds.val, evalSamples: 200, lut, timing }, arch);
      expect(r.accuracy).toBeGreaterThanOrEqual(0);
      expect(r.accuracy).toBeLessThanOrEqual(1);
      expect(r.params).toBe(net.countParams(arch));
      expect(r.flops).toBe(net.countFlops(arch));
      expect(r.latencyMs).toBeGreaterThan(0);
      expect(r.latencyLutMs).toBeGreaterThan(0);
      results.push(r);
    }
    // 784·128 + 3·128·128 + … MACs vs 784·64 + 32·32 + …: the largest subnet is well over twice the work.
    expect(results[0]!.flops).toBeGreaterThan(2 * results[1]!.flops);
    expect(results[0]!.latencyLutMs!).toBeGreaterThan(results[1]!.latencyLutMs!);
    const mape = meanAbsPercentError(results.map((r) => r.latencyLutMs!), results.map((r) => r.latencyMs));
    console.log(`LUT mean abs % error over ${results.length} subnets: ${mape.toFixed(1)} %; entries ${lut.size}`);
    // Only a gross error (a layer left out or counted twice, ≥ 2×) should fail this on shared cores.
    expect(mape).toBeLessThan(60);
    expect(await lut.save()).toBe(true);

    const again = await LatencyTable.open({ path, backend: 'cpu', device: 'test-device', space, timing, thresholds });
    expect(again.fromCache).toBe(true);
    expect(again.size).toBe(lut.size);
    const predicted = await again.predict(await subnetGraph(net, archs[2]!));
    expect(again.measured).toBe(0); // every entry came from the file
    expect(predicted).toBeCloseTo(await lut.predict(await subnetGraph(net, archs[2]!)), 9);
    // Another backend does not reuse this backend's numbers.
    const other = await LatencyTable.open({ path, backend: 'wasm', device: 'test-device', space, timing, thresholds });
    expect(other.size).toBe(0);
    net.dispose();
  });

  it('measures a larger graph as slower than a much smaller one', async () => {
    const net = buildSupernet(space, { seed: 2 });
    const timing = { batchSize: 256, warmup: 1, runs: 5 };
    const big = await measureGraphLatency(await subnetGraph(net, largestArch(space)), timing);
    const small = await measureGraphLatency(await subnetGraph(net, smallestArch(space)), timing);
    expect(big).toBeGreaterThan(small);
    net.dispose();
  });
});
