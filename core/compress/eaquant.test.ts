import { describe, expect, it } from 'vitest';
import { createRng } from '../space/rng.js';
import { alignRouterQuantization, meanRouterKL } from './eaquant.js';
import { randomRows } from './testExperts.js';

describe('EAQuant router-logit alignment', () => {
  it('KL of identical logits is 0 and matches a direct computation otherwise', () => {
    const p = [1, 2, 0.5, -1, 0, 3];
    expect(meanRouterKL(p, p, 2, 3)).toBeCloseTo(0, 12);
    const q = [0, 2, 1, -1, 1, 2];
    const sm = (v: number[]) => v.map((x) => Math.exp(x) / v.reduce((s, y) => s + Math.exp(y), 0));
    const kl = (a: number[], b: number[]) => sm(a).reduce((s, pa, i) => s + pa * Math.log(pa / sm(b)[i]!), 0);
    expect(meanRouterKL(p, q, 2, 3)).toBeCloseTo((kl(p.slice(0, 3), q.slice(0, 3)) + kl(p.slice(3), q.slice(3))) / 2, 10);
  });

  it('clipping chosen on the router distribution beats min-max PTQ when a column has an outlier', () => {
    const rng = createRng(11);
    const [dim, S] = [16, 4];
    const kernel = Float32Array.from({ length: dim * S }, () => rng.normal() * 0.3);
    // One large weight per column on an input that is nearly always small: min-max steps at 3 bits round
    // most weights to zero for the sake of a weight that barely moves the logits.
    for (let s = 0; s < S; s++) kernel[s] = 4 * (s % 2 ? -1 : 1);
    const router = { kernel, bias: null, inDim: dim, outDim: S };
    const x = randomRows(200, dim, 3);
    for (let t = 0; t < 200; t++) x[t * dim] *= 0.02;
    const r = alignRouterQuantization(router, x, 200, 3);
    expect(r.kl).toBeLessThan(0.8 * r.klPlain);
    expect(r.clip.some((a) => a < 1)).toBe(true);
  });
});
