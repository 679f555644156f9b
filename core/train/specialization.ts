/**
 * Where the router sends what: class × expert counts and expert co-activation on held-out samples, and
 * for 2-D data a grid over the plane coloured by each MoE layer's top expert and by the predicted class
 * (the kind of map Shazeer et al., 2017 and later MoE papers use to show expert specialization).
 */
import * as tf from '@tensorflow/tfjs';
import type { Dataset } from '../data/Dataset.js';
import type { Supernet } from '../nn/types.js';
import type { Specialization } from '../protocol/protocol.js';
import type { Arch } from '../space/SearchSpace.js';
import { createRng } from '../space/rng.js';
import type { SelfContrastNet } from '../nn/selfContrast.js';
import { archMixingReport } from './archMixing.js';
import { noiseRobustness } from './noiseRobustness.js';
import { prototypePlane, type PrototypePlane } from './prototypePlane.js';
import { selfContrastSweep } from './selfContrastSweep.js';

export const PLANE_GRID_SIZE = 48;
/**
 * Samples per forward pass. GShard-style dispatch builds [tokens × capacity] one-hot matrices, and
 * without a capacity limit (inference) capacity = tokens, so one pass costs O(tokens²): small chunks
 * keep a 48×48 grid to a few hundred milliseconds.
 */
export const SPECIALIZATION_CHUNK = 128;

export interface SpecializationOptions {
  /** Held-out samples routed for the counts (default 512). */
  samples?: number;
  gridSize?: number;
  /** Test points drawn over the plane (default 300). */
  points?: number;
}

interface LayerAcc {
  layer: string;
  expertNames: string[];
  counts: number[][];
  coactivation: number[][];
  transitions?: number[][];
  prototypePlane?: PrototypePlane;
}

/** Rows of a row-major [n, d] array. */
const rowsOf = (v: ArrayLike<number>, d: number) => Array.from({ length: Math.floor(v.length / d) }, (_, i) => Array.from(Array.prototype.slice.call(v, i * d, (i + 1) * d) as number[]));

/** Reads are asynchronous (WebGPU under Node has no synchronous read-back). */
export async function computeSpecialization(
  net: Supernet,
  arch: Arch,
  ds: Dataset,
  step: number,
  opts: SpecializationOptions = {},
): Promise<Specialization> {
  const n = Math.min(opts.samples ?? 512, ds.val.n);
  const f = ds.val.x.length / ds.val.n;
  const classes = ds.classNames.length;
  let layers: LayerAcc[] = [];
  for (let s = 0; s < n; s += SPECIALIZATION_CHUNK) {
    const m = Math.min(SPECIALIZATION_CHUNK, n - s);
    const labels = ds.val.y.subarray(s, s + m);
    const { reads, moe, protoReads } = tf.tidy(() => {
      const x = tf.tensor(ds.val.x.subarray(s * f, (s + m) * f), [m, ...ds.inputShape]);
      const out = net.apply(x, arch, { training: false, progress: 1 });
      const moe = out.moe.map((l) => ({ layer: l.layer, expertNames: l.expertNames }));
      // The first chunk's router inputs and prototypes, for layers whose router has prototypes (ProMoE).
      const protoReads = s === 0 ? out.moe.map((l) => (l.prototypes && l.routerInput ? [l.routerInput, l.prototypes, l.topExpert] : [])) : [];
      // Masks and co-activation per layer, then every layer's top experts (the cross-layer transitions).
      return { moe, reads: [...out.moe.flatMap((l) => [l.mask, tf.matMul(l.mask, l.mask, true, false)]), ...out.moe.map((l) => l.topExpert)], protoReads };
    });
    const values = await Promise.all(reads.map((t) => t.data()));
    const protoValues = await Promise.all(protoReads.map((ts) => Promise.all(ts.map((t) => t.data()))));
    const protoShapes = protoReads.map((ts) => ts.map((t) => t.shape));
    // The two lists share the layers' top experts: dispose each tensor once.
    tf.dispose([...new Set([...reads, ...protoReads.flat()])]);
    if (s === 0) {
      layers = moe.map((l) => {
        const slots = l.expertNames.length;
        const square = (rows: number) => Array.from({ length: rows }, () => new Array<number>(slots).fill(0));
        return { layer: l.layer, expertNames: l.expertNames, counts: square(classes), coactivation: square(slots) };
      });
    }
    protoValues.forEach((v, li) => {
      if (v.length !== 3) return;
      const d = protoShapes[li]![0]![1]!;
      layers[li]!.prototypePlane = prototypePlane(rowsOf(v[0]!, d), Array.from(v[2]!, (e) => Math.round(e)), rowsOf(v[1]!, d));
    });
    moe.forEach((l, li) => {
      const acc = layers[li]!;
      const slots = l.expertNames.length;
      const mask = values[2 * li]!;
      const tokens = mask.length / slots;
      // Conv MoE layers route every position: a sample's tokens are consecutive.
      const perSample = Math.max(1, Math.round(tokens / m));
      for (let t = 0; t < tokens; t++) {
        const row = acc.counts[labels[Math.min(m - 1, Math.floor(t / perSample))]!];
        if (!row) continue;
        for (let e = 0; e < slots; e++) row[e]! += mask[t * slots + e]!;
      }
      const co = values[2 * li + 1]!;
      for (let i = 0; i < slots; i++) for (let j = 0; j < slots; j++) acc.coactivation[i]![j]! += co[i * slots + j]!;
      // Top expert at the previous MoE layer → here, token by token (same tokens only).
      const prevTop = li > 0 ? values[2 * moe.length + li - 1]! : null;
      const top = values[2 * moe.length + li]!;
      if (prevTop && prevTop.length === top.length) {
        const prevSlots = moe[li - 1]!.expertNames.length;
        acc.transitions ??= Array.from({ length: prevSlots }, () => new Array<number>(slots).fill(0));
        for (let t = 0; t < top.length; t++) acc.transitions[Math.round(prevTop[t]!)]![Math.round(top[t]!)]! += 1;
      }
    });
  }
  const spec: Specialization = { step, classNames: ds.classNames, layers };
  // Mixture-of-Supernets: which architecture features steer each block's weight mixture.
  const mixing = await archMixingReport(net);
  if (mixing) spec.archMixing = mixing;
  // Issue 13's inference-side views on the same held-out samples: SCMoE's accuracy against β, and
  // MomentumSMoE's accuracy under input noise with momentum on and off (classification data only).
  const withMoE = net as Partial<SelfContrastNet>;
  const moe = withMoE.moeLayers?.() ?? [];
  if (moe.length > 0 && !ds.val.targets) {
    const data = { split: ds.val, name: 'val', inputShape: ds.inputShape, limit: n };
    spec.selfContrast = await selfContrastSweep(withMoE as SelfContrastNet, arch, data);
    if (moe.some((l) => l.block.momentum)) spec.noiseRobustness = await noiseRobustness(withMoE as SelfContrastNet, arch, data);
  }
  if (ds.bounds && ds.inputShape.length === 1 && ds.inputShape[0] === 2) {
    const size = opts.gridSize ?? PLANE_GRID_SIZE;
    const cells = size * size;
    const { xMin, xMax, yMin, yMax } = ds.bounds;
    const grid = new Float32Array(cells * 2);
    for (let r = 0; r < size; r++) {
      for (let c = 0; c < size; c++) {
        const i = r * size + c;
        grid[2 * i] = xMin + ((c + 0.5) * (xMax - xMin)) / size;
        grid[2 * i + 1] = yMin + ((r + 0.5) * (yMax - yMin)) / size;
      }
    }
    const experts: number[][] = layers.map(() => []);
    const predicted: number[] = [];
    for (let s = 0; s < cells; s += SPECIALIZATION_CHUNK) {
      const m = Math.min(SPECIALIZATION_CHUNK, cells - s);
      const reads = tf.tidy(() => {
        const out = net.apply(tf.tensor2d(grid.subarray(2 * s, 2 * (s + m)), [m, 2]), arch, { training: false, progress: 1 });
        return [...out.moe.map((l) => l.topExpert), tf.argMax(out.logits, 1)];
      });
      const values = await Promise.all(reads.map((t) => t.data()));
      tf.dispose(reads);
      values.slice(0, -1).forEach((v, li) => experts[li]?.push(...Array.from(v, (e) => Math.round(e)).slice(0, m)));
      predicted.push(...values[values.length - 1]!);
    }
    const rng = createRng(step + 1);
    const count = Math.min(opts.points ?? 300, ds.val.n);
    const idx = rng.shuffle(Array.from({ length: ds.val.n }, (_, i) => i)).slice(0, count);
    const points = idx.map((i) => [ds.val.x[2 * i]!, ds.val.x[2 * i + 1]!, ds.val.y[i]!] as [number, number, number]);
    spec.plane = { xMin, xMax, yMin, yMax, size, experts, predicted, points };
  }
  return spec;
}
