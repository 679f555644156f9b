import { describe, expect, it } from 'vitest';
import { patchSequenceShape, toPatchSequences } from './patches.js';

describe('patch sequences', () => {
  it('token k holds the k-th p×p patch in row-major order, channels last (independent index formula)', () => {
    const H = 4, W = 6, C = 2, p = 2, n = 2;
    // Value encodes (sample, row, col, channel).
    const x = Float32Array.from({ length: n * H * W * C }, (_, k) => k);
    const out = toPatchSequences({ x, y: new Int32Array(n), n }, { height: H, width: W, channels: C, patch: p });
    expect(patchSequenceShape({ height: H, width: W, channels: C, patch: p })).toEqual([6, 8]);
    for (let i = 0; i < n; i++)
      for (let r = 0; r < H; r++)
        for (let c = 0; c < W; c++)
          for (let ch = 0; ch < C; ch++) {
            const token = Math.floor(r / p) * (W / p) + Math.floor(c / p);
            const f = ((r % p) * p + (c % p)) * C + ch;
            expect(out.x[i * H * W * C + token * 8 + f]).toBe(x[((i * H + r) * W + c) * C + ch]);
          }
    // A patch of one whole row-block is not the same as a reshape: the reorder really moved values.
    expect(out.x).not.toEqual(x);
  });

  it('a patch size that does not divide the image is an error naming patch', () => {
    expect(() => patchSequenceShape({ height: 28, width: 28, channels: 1, patch: 5 })).toThrow(/patch: 5/);
  });
});
