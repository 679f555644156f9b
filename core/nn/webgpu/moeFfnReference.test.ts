import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { expertCapacity, moeFfnReference, type MoeFfnOptions } from './moeFfnReference.js';

/** The documented semantics, written as loops over plain arrays. */
function naiveMoe(x: number[][], routerW: number[][], w1: number[][][], b1: number[][], w2: number[][][], b2: number[][], opts: MoeFfnOptions) {
  const T = x.length;
  const d = x[0]!.length;
  const E = routerW[0]!.length;
  const h = b1[0]!.length;
  const { k, capacity } = opts;
  const probs = x.map((row) => {
    const logits = Array.from({ length: E }, (_, e) => row.reduce((s, v, i) => s + v * routerW[i]![e]!, 0));
    const m = Math.max(...logits);
    const ex = logits.map((l) => Math.exp(l - m));
    const z = ex.reduce((a, b) => a + b, 0);
    return ex.map((v) => v / z);
  });
  const chosen = probs.map((p) => [...p.keys()].sort((a, b) => p[b]! - p[a]! || a - b).slice(0, k));
  const order: [number, number][] = [];
  if ((opts.priority ?? 'rank') === 'rank') {
    for (let r = 0; r < k; r++) for (let t = 0; t < T; t++) order.push([t, r]);
  } else {
    for (let t = 0; t < T; t++) for (let r = 0; r < k; r++) order.push([t, r]);
  }
  const filled = new Array<number>(E).fill(0);
  const keep = chosen.map(() => new Array<boolean>(k).fill(false));
  for (const [t, r] of order) {
    const e = chosen[t]![r]!;
    keep[t]![r] = filled[e]! < capacity;
    filled[e]!++;
  }
  return x.map((row, t) => {
    const raw = chosen[t]!.map((e) => probs[t]![e]!);
    const sum = raw.reduce((a, b) => a + b, 0);
    const out = new Array<number>(d).fill(0);
    chosen[t]!.forEach((e, r) => {
      if (!keep[t]![r]) return;
      const gate = opts.normalize ? raw[r]! / sum : raw[r]!;
      const hid = Array.from({ length: h }, (_, j) => Math.max(0, b1[e]![j]! + row.reduce((s, v, i) => s + v * w1[e]![i]![j]!, 0)));
      for (let c = 0; c < d; c++) out[c]! += gate * (b2[e]![c]! + hid.reduce((s, v, j) => s + v * w2[e]![j]![c]!, 0));
    });
    return out;
  });
}

describe('moeFfnReference', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  const T = 12;
  const d = 4;
  const h = 6;
  const E = 3;
  const make = (seed: number) => ({
    x: tf.randomNormal([T, d], 0, 1, 'float32', seed) as tf.Tensor2D,
    routerW: tf.randomNormal([d, E], 0, 1, 'float32', seed + 1) as tf.Tensor2D,
    w1: tf.randomNormal([E, d, h], 0, 0.5, 'float32', seed + 2) as tf.Tensor3D,
    b1: tf.randomNormal([E, h], 0, 0.1, 'float32', seed + 3) as tf.Tensor2D,
    w2: tf.randomNormal([E, h, d], 0, 0.5, 'float32', seed + 4) as tf.Tensor3D,
    b2: tf.randomNormal([E, d], 0, 0.1, 'float32', seed + 5) as tf.Tensor2D,
  });

  const cases: [string, MoeFfnOptions][] = [
    ['top-2, rank priority, drops', { k: 2, capacity: 3 }],
    ['top-2, token priority, normalised, drops', { k: 2, capacity: 3, priority: 'token', normalize: true }],
    ['top-1, no drops', { k: 1, capacity: T }],
  ];
  for (const [name, opts] of cases) {
    it(`matches the loop semantics: ${name}`, () => {
      const p = make(opts.k * 10 + (opts.normalize ? 1 : 0));
      const r = moeFfnReference(p.x, p.routerW, p.w1, p.b1, p.w2, p.b2, opts);
      const want = naiveMoe(
        p.x.arraySync(),
        p.routerW.arraySync(),
        p.w1.arraySync(),
        p.b1.arraySync(),
        p.w2.arraySync(),
        p.b2.arraySync(),
        opts,
      );
      const got = r.y.arraySync();
      for (let t = 0; t < T; t++) for (let c = 0; c < d; c++) expect(got[t]![c]).toBeCloseTo(want[t]![c]!, 4);
      const kept = r.keep.sum().dataSync()[0]!;
      if (opts.capacity < T) expect(kept).toBeLessThan(T * opts.k); // the case really drops
    });
  }

  it('gives finite-difference gradients for the router and the experts', () => {
    const p = make(99);
    const opts: MoeFfnOptions = { k: 2, capacity: 6, normalize: true };
    const loss = (x: tf.Tensor, rw: tf.Tensor, w1: tf.Tensor) =>
      tf.sum(tf.square(moeFfnReference(x as tf.Tensor2D, rw as tf.Tensor2D, w1 as tf.Tensor3D, p.b1, p.w2, p.b2, opts).y));
    const [gx, grw, gw1] = tf.grads(loss)([p.x, p.routerW, p.w1]);
    // Central differences in float32 on entries small enough not to flip a routing decision.
    const eps = 1e-2;
    const probe = (t: tf.Tensor, g: tf.Tensor, flat: number, which: 0 | 1 | 2) => {
      const v = t.dataSync().slice();
      const at = (delta: number) => {
        const w = v.slice();
        w[flat]! += delta;
        const moved = tf.tensor(w, t.shape);
        const args = [p.x, p.routerW, p.w1] as tf.Tensor[];
        args[which] = moved;
        return loss(args[0]!, args[1]!, args[2]!).dataSync()[0]!;
      };
      const numeric = (at(eps) - at(-eps)) / (2 * eps);
      expect(g.dataSync()[flat]!).toBeCloseTo(numeric, 1);
    };
    probe(p.x, gx!, 5, 0);
    probe(p.routerW, grw!, 2, 1);
    probe(p.w1, gw1!, 7, 2);
    expect(Math.abs(grw!.sum().dataSync()[0]!) + tf.norm(grw!).dataSync()[0]!).toBeGreaterThan(0);
  });

  it('computes capacity as ceil(factor · T · k / E)', () => {
    expect(expertCapacity(8192, 2, 8, 1.25)).toBe(2560);
    expect(expertCapacity(10, 1, 4, 1)).toBe(3);
  });
});
