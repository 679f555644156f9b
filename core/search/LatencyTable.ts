/**
 * Per-backend latency lookup table, one entry per concrete layer configuration (Once-for-All, Cai et
 * al. 2020, and HAT, Wang et al. 2020, predict a subnet's latency as the sum of its blocks' measured
 * latencies instead of timing every candidate).
 *
 * An entry is the median time of one op (a dense layer of given in/out widths, a conv of given input
 * size/channels/kernel/stride, an MoE layer of given width, hidden size, slots and routing, …) on a
 * random input, minus the cost of a bare download of a result (`syncMs`), which every forward pays once.
 * Predicted latency = syncMs + Σ entries. Entries are measured lazily the first time a configuration
 * is met and cached in a JSON file next to the runs folder, keyed by backend + device + space shape, so
 * later searches on the same machine start with a warm table.
 */
import * as tf from '@tensorflow/tfjs';
import { createHash } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { SearchSpace } from '../space/SearchSpace.js';
import { atomicWriteFile } from '../train/atomicWrite.js';
import { compileOps, inputShapeOf, type SubnetGraph, type SubnetOp } from '../export/subnetGraph.js';

export interface TimingOptions {
  /** Samples per forward pass (1 = single-input latency). */
  batchSize: number;
  /** Untimed runs first (kernel compilation, caches). */
  warmup: number;
  /** Timed runs; the median is kept. */
  runs: number;
}

export const DEFAULT_TIMING: TimingOptions = { batchSize: 1, warmup: 3, runs: 15 };

export interface LatencyTableFile {
  version: 1;
  backend: string;
  device: string;
  spaceKey: string;
  batchSize: number;
  syncMs: number | null;
  entries: Record<string, number>;
  updatedAt: string;
}

function median(xs: number[]): number {
  const s = xs.slice().sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Median wall time (ms) of `run` with its result downloaded (the only reliable sync on every backend). */
export async function timeMedian(run: () => tf.Tensor, timing: Pick<TimingOptions, 'warmup' | 'runs'>): Promise<number> {
  for (let i = 0; i < timing.warmup; i++) {
    const y = run();
    await y.data();
    y.dispose();
  }
  const times: number[] = [];
  for (let i = 0; i < timing.runs; i++) {
    const t0 = performance.now();
    const y = run();
    await y.data();
    times.push(performance.now() - t0);
    y.dispose();
  }
  return median(times);
}

/** The structure of a space that decides its ops' shapes (names and descriptions left out). */
export function spaceShapeKey(space: SearchSpace): string {
  const shape = { input: space.input, numClasses: space.numClasses, stages: space.stages.map((s) => ({ depth: s.depth, block: s.block })) };
  return createHash('sha1').update(JSON.stringify(shape)).digest('hex').slice(0, 12);
}

/** Where the table for (backend, device, space) lives: `<parent of runsDir>/latency-tables/…json`. */
export function latencyTablePath(runsDir: string, backend: string, device: string, space: SearchSpace): string {
  const dev = createHash('sha1').update(device).digest('hex').slice(0, 8);
  return join(dirname(runsDir), 'latency-tables', `${backend}-${dev}-${spaceShapeKey(space)}.json`);
}

/** Output shape (without batch) of an op for an input shape (without batch). */
export function opOutputShape(op: SubnetOp, shape: readonly number[]): number[] {
  switch (op.op) {
    case 'dense':
      return [op.weights.outDim];
    case 'conv2d':
      return [Math.ceil(shape[0]! / op.stride), Math.ceil(shape[1]! / op.stride), op.outChannels];
    case 'globalAvgPool':
      return [shape[2]!];
    case 'flatten':
      return [shape.reduce((a, b) => a * b, 1)];
    default:
      return shape.slice();
  }
}

/** A string that identifies an op's cost: kind, shapes and the options that change the work done. */
export function opKey(op: SubnetOp, shape: readonly number[]): string {
  const s = shape.join('x');
  switch (op.op) {
    case 'dense':
      return `dense|${op.weights.inDim}x${op.weights.outDim}|${op.weights.bias ? 'b' : ''}`;
    case 'conv2d':
      return `conv|${s}|k${op.kernelSize}|s${op.stride}|${op.outChannels}|${op.bias ? 'b' : ''}`;
    case 'batchNorm':
      return `bn|${s}`;
    case 'activation':
      return `act|${op.fn}|${s}`;
    case 'globalAvgPool':
      return `gap|${s}`;
    case 'flatten':
      return `flatten|${s}`;
    case 'residual': {
      let inner = shape.slice();
      const keys = op.body.map((o) => {
        const k = opKey(o, inner);
        inner = opOutputShape(o, inner);
        return k;
      });
      return `res|${s}|${keys.join(';')}`;
    }
    case 'moe': {
      const slots = op.slots.map((x) => (x.kind === 'expert' ? `e${x.ffn.up.outDim}${x.ffn.activation[0]}` : x.kind[0])).join(',');
      const shared = op.shared.map((f) => f.up.outDim).join(',');
      const g = op.gating;
      const gating = g.mode === 'topk' ? `k${g.k}` : g.mode === 'topp' ? `p${g.p}m${g.maxK}` : `ec${g.capacityFactor}`;
      return `moe|d${op.dim}|${slots}|sh${shared}|${gating}|${op.normalize ? 'n' : ''}`;
    }
  }
}

export interface LatencyTableOptions {
  path: string;
  backend: string;
  device: string;
  space: SearchSpace;
  timing?: Partial<TimingOptions>;
}

export class LatencyTable {
  private data: LatencyTableFile;
  private readonly timing: TimingOptions;
  /** Entries measured (not read from the cache) since this table was opened. */
  measured = 0;
  /** Entries found in the cache since this table was opened. */
  hits = 0;
  /** Whether this process has run the warm-up (see `warmUp`). */
  private warm = false;

  private constructor(
    readonly path: string,
    data: LatencyTableFile,
    timing: TimingOptions,
  ) {
    this.data = data;
    this.timing = timing;
  }

  /** Open the cached table for (backend, device, space), or start an empty one. */
  static async open(opts: LatencyTableOptions): Promise<LatencyTable> {
    const timing = { ...DEFAULT_TIMING, ...opts.timing };
    const spaceKey = spaceShapeKey(opts.space);
    const fresh: LatencyTableFile = {
      version: 1,
      backend: opts.backend,
      device: opts.device,
      spaceKey,
      batchSize: timing.batchSize,
      syncMs: null,
      entries: {},
      updatedAt: new Date().toISOString(),
    };
    try {
      const d = JSON.parse(await readFile(opts.path, 'utf8')) as LatencyTableFile;
      const matches = d.version === 1 && d.backend === opts.backend && d.device === opts.device && d.spaceKey === spaceKey && d.batchSize === timing.batchSize;
      return new LatencyTable(opts.path, matches ? d : fresh, timing);
    } catch {
      return new LatencyTable(opts.path, fresh, timing);
    }
  }

  get size(): number {
    return Object.keys(this.data.entries).length;
  }

  get syncMs(): number | null {
    return this.data.syncMs;
  }

  /** Time of a bare download of a small result: the per-forward overhead the entries exclude. */
  private async sync(): Promise<number> {
    if (this.data.syncMs === null) {
      const x = tf.ones([this.timing.batchSize, 8]);
      this.data.syncMs = await timeMedian(() => tf.add(x, 0), this.timing);
      x.dispose();
    }
    return this.data.syncMs;
  }

  private async entry(op: SubnetOp, shape: readonly number[]): Promise<number> {
    const key = opKey(op, shape);
    const cached = this.data.entries[key];
    if (cached !== undefined) {
      this.hits++;
      return cached;
    }
    const sync = await this.sync();
    const compiled = compileOps([op]);
    const x = tf.randomNormal([this.timing.batchSize, ...shape]);
    try {
      // An entry is reused for every later prediction, so one burst of contention (another process on
      // the same cores) must not poison it: take the smaller median of two bursts, since contention
      // only ever adds time.
      const half = { warmup: this.timing.warmup, runs: Math.max(3, Math.ceil(this.timing.runs / 2)) };
      const first = await timeMedian(() => compiled.run(x), half);
      await new Promise((r) => setImmediate(r));
      const second = await timeMedian(() => compiled.run(x), { ...half, warmup: 0 });
      const ms = Math.max(0, Math.min(first, second) - sync);
      this.data.entries[key] = ms;
      this.measured++;
      return ms;
    } finally {
      x.dispose();
      compiled.dispose();
    }
  }

  /**
   * Before the first entry is timed in this process, run a whole graph a few dozen times: V8 and the
   * backend compile kernels lazily, and the first op timed cold would otherwise carry that cost into
   * the table for good.
   */
  private async warmUp(graph: SubnetGraph): Promise<void> {
    if (this.warm) return;
    this.warm = true;
    const compiled = compileOps(graph.ops);
    const x = tf.randomNormal([this.timing.batchSize, ...inputShapeOf(graph.input)]);
    try {
      await timeMedian(() => compiled.run(x), { warmup: 20, runs: 1 });
    } finally {
      x.dispose();
      compiled.dispose();
    }
  }

  /** Predicted latency (ms) of a subnet graph; measures and caches configurations not seen before. */
  async predict(graph: SubnetGraph): Promise<number> {
    let probe = inputShapeOf(graph.input);
    for (const op of graph.ops) {
      if (this.data.entries[opKey(op, probe)] === undefined) {
        await this.warmUp(graph);
        break;
      }
      probe = opOutputShape(op, probe);
    }
    let shape = inputShapeOf(graph.input);
    let total = await this.sync();
    for (const op of graph.ops) {
      total += await this.entry(op, shape);
      shape = opOutputShape(op, shape);
    }
    return total;
  }

  async save(): Promise<void> {
    this.data.updatedAt = new Date().toISOString();
    await mkdir(dirname(this.path), { recursive: true });
    await atomicWriteFile(this.path, JSON.stringify(this.data, null, 1));
  }
}

/** Mean absolute percentage error of predictions against measurements (pairs with measured > 0). */
export function meanAbsPercentError(predicted: readonly number[], measured: readonly number[]): number {
  let sum = 0;
  let n = 0;
  predicted.forEach((p, i) => {
    const m = measured[i]!;
    if (m > 0 && Number.isFinite(p)) {
      sum += Math.abs(p - m) / m;
      n++;
    }
  });
  return n ? (100 * sum) / n : NaN;
}
