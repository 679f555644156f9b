/**
 * Fit a latency table to whole-subnet timings of one supernet's space (see LatencyTable.ts): draw
 * subnets spread over the space (the largest and smallest, then random ones), keep some out of the
 * fit for the check, add subnets to the fit until every op configuration met in either set occurs in
 * the fit at least twice and there are at least twice as many fitted subnets as unknowns, time them
 * all interleaved, then fit and check.
 */
import type { Supernet } from '../nn/types.js';
import type { LatencyModelCheck } from '../protocol/protocol.js';
import { archKey, largestArch, sampleArch, smallestArch } from '../space/archCodec.js';
import { createRng } from '../space/rng.js';
import type { Arch } from '../space/SearchSpace.js';
import type { SubnetGraph } from '../nn/graph/evaluate.js';
import { subnetGraph } from './evaluateSubnet.js';
import { measureGraphLatencies, opUsage, type LatencySample, type LatencyTable } from './LatencyTable.js';

export interface CalibrationOptions {
  seed?: number;
  /** Subnets kept out of the fit and used for the check (default 24). */
  heldOut?: number;
  /** At least this many fitted subnets (default 24); more when the table has many configurations. */
  minFit?: number;
  /** At most this many fitted subnets (default 160). */
  maxFit?: number;
  signal?: AbortSignal;
}

interface Candidate {
  arch: Arch;
  graph: SubnetGraph;
  usage: Record<string, number>;
}

export interface CalibrationResult {
  check: LatencyModelCheck;
  fit: Arch[];
  heldOut: Arch[];
}

/**
 * A subnet's graph and usage, or null for one met before: encodings that differ only under identity
 * blocks or beyond the chosen depth are one graph.
 */
function distinctCandidates(net: Supernet): (arch: Arch) => Promise<Candidate | null> {
  const seen = new Set<string>();
  return async (arch) => {
    if (seen.has(archKey(arch))) return null;
    seen.add(archKey(arch));
    const graph = await subnetGraph(net, arch);
    const usage = opUsage(graph);
    const key = JSON.stringify(Object.entries(usage).sort());
    if (seen.has(key)) return null;
    seen.add(key);
    return { arch, graph, usage };
  };
}

/** Up to n distinct random subnets. */
async function distinctSubnets(net: Supernet, n: number, seed: number): Promise<Candidate[]> {
  const rng = createRng(seed);
  const candidate = distinctCandidates(net);
  const out: Candidate[] = [];
  for (let tries = 0; out.length < n && tries < 50 * n; tries++) {
    const c = await candidate(sampleArch(net.space, rng));
    if (c) out.push(c);
  }
  return out;
}

/**
 * Re-check a table (typically one read from disk) on `n` random subnets timed now; the table itself
 * is left as it is. A failing result means: refit before use.
 */
export async function verifyLatencyTable(table: LatencyTable, net: Supernet, opts: { seed?: number; n?: number } = {}): Promise<LatencyModelCheck> {
  const subs = await distinctSubnets(net, opts.n ?? 12, 7919 * (opts.seed ?? 1) + 1);
  const ms = await measureGraphLatencies(
    subs.map((c) => c.graph),
    table.timing,
  );
  table.measured += subs.length;
  return table.verify(subs.map((c, i) => ({ usage: c.usage, ms: ms[i]! })));
}

/** Choose, time, fit and check; the table is refitted in place. */
export async function calibrateLatencyTable(table: LatencyTable, net: Supernet, opts: CalibrationOptions = {}): Promise<CalibrationResult> {
  const space = net.space;
  const rng = createRng(opts.seed ?? 1);
  const nHeld = opts.heldOut ?? 24;
  const minFit = opts.minFit ?? 24;
  const maxFit = opts.maxFit ?? 160;
  const candidate = distinctCandidates(net);
  const fit: Candidate[] = [];
  const held: Candidate[] = [];
  for (const a of [largestArch(space), smallestArch(space)]) {
    const c = await candidate(a);
    if (c) fit.push(c);
  }
  const maxTries = 50 * (nHeld + maxFit);
  let tries = 0;
  while (held.length < nHeld && tries++ < maxTries) {
    const c = await candidate(sampleArch(space, rng));
    if (c) held.push(c);
  }
  const counts = (set: readonly Candidate[]) => {
    const m = new Map<string, number>();
    for (const c of set) for (const [k, n] of Object.entries(c.usage)) m.set(k, (m.get(k) ?? 0) + (n > 0 ? 1 : 0));
    return m;
  };
  const covered = () => {
    const inFit = counts(fit);
    const keys = new Set([...inFit.keys(), ...counts(held).keys()]);
    const enough = [...keys].every((k) => (inFit.get(k) ?? 0) >= 2);
    return enough && fit.length >= Math.max(minFit, 2 * (keys.size + 1));
  };
  while (!covered() && fit.length < maxFit && tries++ < maxTries) {
    opts.signal?.throwIfAborted();
    const c = await candidate(sampleArch(space, rng));
    if (c) fit.push(c);
  }
  // A held-out subnet with a configuration the fit never met cannot be predicted: give it to the fit.
  const fitKeys = counts(fit);
  for (let i = held.length - 1; i >= 0; i--) {
    if (Object.keys(held[i]!.usage).some((k) => !fitKeys.has(k))) fit.push(...held.splice(i, 1));
  }
  opts.signal?.throwIfAborted();
  const all = [...fit, ...held];
  const ms = await measureGraphLatencies(
    all.map((c) => c.graph),
    table.timing,
  );
  table.measured += all.length;
  const samples: LatencySample[] = all.map((c, i) => ({ usage: c.usage, ms: ms[i]! }));
  const check = table.calibrate(samples.slice(0, fit.length), samples.slice(fit.length));
  return { check, fit: fit.map((c) => c.arch), heldOut: held.map((c) => c.arch) };
}
