import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { mkdtemp, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildSupernet } from '../nn/Supernet.js';
import { largestArch, smallestArch } from '../space/archCodec.js';
import { listExampleSpaces } from '../space/exampleSpaces.js';
import { createRng } from '../space/rng.js';
import { SearchSpace } from '../space/SearchSpace.js';
import { subnetGraph } from './evaluateSubnet.js';
import { calibrateLatencyTable, verifyLatencyTable } from './latencyCalibration.js';
import { checkLatencyModel, fitLatencyModel, LatencyTable, latencyTablePath, opUsage, predictLatency, timeInterleaved, timeMin, type LatencySample } from './LatencyTable.js';

const space = SearchSpace.parse(listExampleSpaces().find((e) => e.id === 'fashion-mlp-supernet')!.space);

beforeAll(async () => {
  await tf.setBackend('cpu');
});
afterAll(() => tf.disposeVariables());

/**
 * Synthetic timings: a fixed per-inference overhead larger than most ops (as on the CPU backend, where
 * a read-back costs more than a small dense layer), known per-op costs, 1 % multiplicative noise.
 */
const TRUE_INTERCEPT = 0.3;
const TRUE_COSTS: Record<string, number> = { a: 0.01, b: 0.02, c: 0.05, d: 0.08, e: 0.12, f: 0.2, g: 0.004, h: 0.03 };
function synthetic(n: number, seed: number): LatencySample[] {
  const rng = createRng(seed);
  const keys = Object.keys(TRUE_COSTS);
  return Array.from({ length: n }, () => {
    const usage: Record<string, number> = {};
    for (const k of keys) {
      const c = Math.floor(rng.next() * 3);
      if (c > 0) usage[k] = c;
    }
    const exact = TRUE_INTERCEPT + Object.entries(usage).reduce((s, [k, c]) => s + c * TRUE_COSTS[k]!, 0);
    return { usage, ms: exact * (1 + 0.01 * rng.normal()) };
  });
}

describe('fitLatencyModel (NNLS over per-op counts plus an intercept)', () => {
  it('recovers known per-op costs and the fixed overhead from whole-subnet timings', () => {
    const m = fitLatencyModel(synthetic(80, 1));
    // The overhead is fitted, not subtracted: subtracting a measured overhead and clamping at 0 (the
    // old table) zeroes every op cheaper than that overhead, and a fit without an intercept spreads the
    // overhead over the ops; both miss these by far more than the tolerance.
    expect(m.interceptMs).toBeGreaterThan(TRUE_INTERCEPT * 0.9);
    expect(m.interceptMs).toBeLessThan(TRUE_INTERCEPT * 1.1);
    for (const [k, c] of Object.entries(TRUE_COSTS)) {
      expect(m.entries[k]!, k).toBeGreaterThan(0);
      expect(Math.abs(m.entries[k]! - c), k).toBeLessThan(Math.max(0.15 * c, 0.003));
    }
    const held = synthetic(40, 2);
    const check = checkLatencyModel(m, held, 80);
    expect(check.mapePct).toBeLessThan(2);
    expect(check.tau).toBeGreaterThan(0.9);
    expect(check.passed).toBe(true);
  });

  it('keeps every cost non-negative where unconstrained least squares goes below 0', () => {
    // Op z is free but its timings are slightly lower where it occurs (noise): OLS gives it a negative
    // cost; NNLS pins it at 0 and refits the rest.
    const samples: LatencySample[] = [
      { usage: { x: 1 }, ms: 1.0 },
      { usage: { x: 1, z: 1 }, ms: 0.98 },
      { usage: { x: 2 }, ms: 1.5 },
      { usage: { x: 2, z: 1 }, ms: 1.47 },
    ];
    const m = fitLatencyModel(samples);
    expect(m.entries.z).toBe(0);
    expect(m.entries.x!).toBeGreaterThan(0.4);
    expect(m.interceptMs).toBeGreaterThan(0.4);
  });

  it('predicts NaN for an op configuration it has not seen', () => {
    expect(predictLatency({ interceptMs: 1, entries: { a: 1 } }, { a: 2 })).toBe(3);
    expect(predictLatency({ interceptMs: 1, entries: { a: 1 } }, { b: 1 })).toBeNaN();
  });
});

/**
 * Forward passes on a virtual clock: each call of a pass advances the clock by that pass's next
 * scripted duration, so the timer sees exactly the scripted times whatever the order of the calls.
 */
function virtualPasses(scripts: number[][]) {
  let t = 0;
  const calls = scripts.map(() => 0);
  const fns = scripts.map((durations, i) => () => {
    t += durations[calls[i]!++] ?? 1;
    return tf.scalar(0);
  });
  return { fns, calls, now: () => t };
}

describe('timing (timeMin, timeInterleaved)', () => {
  it('keeps the minimum of a round, not its median or mean (interference only ever adds time)', async () => {
    const v = virtualPasses([[5, 1, 3, 4, 6]]);
    expect(await timeMin(v.fns[0]!, { warmup: 0, runs: 5 }, v.now)).toBe(1);
    // Warm-up runs are not timed.
    const w = virtualPasses([[0.5, 5, 2, 3]]);
    expect(await timeMin(w.fns[0]!, { warmup: 1, runs: 3 }, w.now)).toBe(2);
  });

  it('ends a round of slow passes once it has taken roundMs, after at least 3 runs', async () => {
    const slow = virtualPasses([Array(20).fill(20)]);
    expect(await timeMin(slow.fns[0]!, { warmup: 0, runs: 20, roundMs: 50 }, slow.now)).toBe(20);
    expect(slow.calls[0]).toBe(3);
    const fast = virtualPasses([Array(20).fill(0.3)]);
    await timeMin(fast.fns[0]!, { warmup: 0, runs: 20, roundMs: 50 }, fast.now);
    expect(fast.calls[0]).toBe(20);
  });

  it('reports the median of the round minima of each pass', async () => {
    // Pass 0: rounds of 2 runs [7,1], [9,8], [2,3] → minima 1, 8, 2 → 2 (the median of all six runs would be 5).
    const v = virtualPasses([
      [7, 1, 9, 8, 2, 3],
      [4, 4, 4, 4, 4, 4],
    ]);
    expect(await timeInterleaved(v.fns, { warmup: 0, runs: 2, rounds: 3, roundMs: Infinity }, v.now)).toEqual([2, 4]);
  });
});

describe('checkLatencyModel', () => {
  it('reports held-out MAPE and Kendall τ-b and passes only within both thresholds', () => {
    const model = { interceptMs: 0, entries: { a: 1 } };
    const held: LatencySample[] = [1, 2, 3, 4].map((c, i) => ({ usage: { a: c }, ms: [1.1, 2, 2.8, 4.4][i]! }));
    const c = checkLatencyModel(model, held, 10, { maxMapePct: 10, minTau: 0.8 });
    // |1−1.1|/1.1, 0, |3−2.8|/2.8, |4−4.4|/4.4 → mean 6.06 %.
    expect(c.mapePct).toBeCloseTo((100 * (0.1 / 1.1 + 0 + 0.2 / 2.8 + 0.4 / 4.4)) / 4, 9);
    expect(c.tau).toBe(1);
    expect(c).toMatchObject({ n: 4, fitN: 10, passed: true });
    expect(checkLatencyModel(model, held, 10, { maxMapePct: 5, minTau: 0.8 }).passed).toBe(false);
  });
});

describe('LatencyTable', () => {
  const opts = async () => {
    const runsDir = join(await mkdtemp(join(tmpdir(), 'sy-lut-')), 'runs');
    return { path: latencyTablePath(runsDir, 'cpu', 'test-device', space), backend: 'cpu', device: 'test-device', space, runsDir };
  };

  it('stores a table that passed its check and reuses it; never stores or reuses one that failed', async () => {
    const o = await opts();
    const t = await LatencyTable.open(o);
    expect(t.check).toBeNull();
    const check = t.calibrate(synthetic(60, 3), synthetic(20, 4));
    expect(check.passed).toBe(true);
    expect(await t.save()).toBe(true);
    const again = await LatencyTable.open(o);
    expect(again.fromCache).toBe(true);
    expect(again.check).toEqual(check);
    expect(again.predictUsage({ a: 1, c: 2 })).toBeCloseTo(t.predictUsage({ a: 1, c: 2 }), 12);
    // Another backend, or stricter thresholds the stored figures miss: refit instead of reuse.
    expect((await LatencyTable.open({ ...o, backend: 'wasm' })).check).toBeNull();
    const strict = await LatencyTable.open({ ...o, thresholds: { maxMapePct: check.mapePct! / 2, minTau: 0.8 } });
    expect(strict.fromCache).toBe(false);
    expect(strict.check).toBeNull();
    // Saving a table that fails (here: refitted to noise) removes the stored file, so it is not reused.
    const rng0 = createRng(9);
    strict.calibrate(synthetic(30, 8).map((x) => ({ ...x, ms: 0.2 + rng0.next() })), synthetic(12, 10).map((x) => ({ ...x, ms: 0.2 + rng0.next() })));
    expect(await strict.save()).toBe(false);
    expect((await LatencyTable.open(o)).check).toBeNull();

    // Predictions that miss latencies timed after the fit (a search's own subnets, here 20 % slower
    // than predicted) reject a passing table: it is not saved and the stored copy is removed.
    const kept = await LatencyTable.open(o);
    kept.calibrate(synthetic(60, 3), synthetic(20, 4));
    const later = synthetic(10, 11);
    const predicted = later.map((x) => kept.predictUsage(x.usage));
    expect(kept.checkMeasured(predicted, later.map((x) => x.ms)).passed).toBe(true);
    expect(await kept.save()).toBe(true);
    const slower = kept.checkMeasured(predicted, later.map((x) => 1.2 * x.ms));
    expect(slower).toMatchObject({ passed: false, n: 10 });
    expect(slower.mapePct!).toBeGreaterThan(15);
    expect(await kept.save()).toBe(false);
    expect((await LatencyTable.open(o)).check).toBeNull();

    // Timings no per-op table explains (pure noise): the check fails and nothing is written.
    const o2 = await opts();
    const bad = await LatencyTable.open(o2);
    const rng = createRng(5);
    const noise = (n: number) => synthetic(n, 6).map((s) => ({ ...s, ms: 0.2 + rng.next() }));
    expect(bad.calibrate(noise(40), noise(16)).passed).toBe(false);
    expect(await bad.save()).toBe(false);
    await expect(readdir(join(o2.runsDir, '..', 'latency-tables'))).rejects.toThrow();
  });

  it('calibrates from whole-subnet timings on the cpu backend and extends itself for unseen configurations', async () => {
    const o = await opts();
    const net = buildSupernet(space, { seed: 1 });
    const t = await LatencyTable.open({ ...o, timing: { batchSize: 1, warmup: 2, runs: 5, rounds: 2 } });
    const r = await calibrateLatencyTable(t, net, { seed: 2, heldOut: 10, maxFit: 60 });
    const check = t.check!;
    expect(check.n).toBe(r.heldOut.length);
    expect(check.fitN).toBe(r.fit.length);
    expect(r.heldOut.length).toBeGreaterThanOrEqual(10);
    // Every configuration of a held-out subnet occurs in the fit; the fit grows towards twice as many
    // subnets as unknowns (entries + intercept), up to maxFit.
    expect(r.fit.length).toBeGreaterThanOrEqual(Math.min(60, 2 * (t.size + 1)));
    for (const arch of r.heldOut) expect(Number.isFinite(t.predictUsage(opUsage(await subnetGraph(net, arch))))).toBe(true);
    expect(check.mapePct !== null && check.tau !== null).toBe(true);
    console.log(`latency table on cpu (random weights, batch 1): held-out MAPE ${check.mapePct!.toFixed(1)} %, τ ${check.tau!.toFixed(2)}, n ${check.n}, fit ${check.fitN}`);
    const big = await t.predict(await subnetGraph(net, largestArch(space)));
    const small = await t.predict(await subnetGraph(net, smallestArch(space)));
    expect(big).toBeGreaterThan(small);
    expect(t.interceptMs).toBeGreaterThan(0);

    // Re-verification on subnets timed now (what a search does before reusing a stored table).
    const v = await verifyLatencyTable(t, net, { seed: 3, n: 6 });
    expect(v).toMatchObject({ n: 6, fitN: check.fitN });
    expect(v.mapePct).not.toBeNull();
    console.log(`re-verified on 6 fresh subnets: MAPE ${v.mapePct!.toFixed(1)} %, τ ${v.tau?.toFixed(2)}`);

    // A graph with configurations the table has not met is timed and folded into the fit rather
    // than predicted from nothing.
    const partial = await LatencyTable.open(o);
    partial.calibrate(synthetic(20, 7), []);
    const bigGraph = await subnetGraph(net, largestArch(space));
    expect(partial.predictUsage(opUsage(bigGraph))).toBeNaN();
    // …and a table that cannot predict today's subnets fails re-verification.
    expect((await verifyLatencyTable(partial, net, { n: 4 })).passed).toBe(false);
    expect(partial.measured).toBe(4);
    partial.measured = 0;
    expect(await partial.predict(bigGraph)).toBeGreaterThan(0);
    expect(partial.measured).toBe(1);
    expect(Object.keys(opUsage(bigGraph)).every((k) => k in partial.entries)).toBe(true);
    net.dispose();
  });
});
