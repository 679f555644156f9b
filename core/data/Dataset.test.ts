import { describe, expect, it } from 'vitest';
import { BatchIterator, sequentialBatches } from './BatchIterator.js';
import { loadDataset } from './Dataset.js';

describe('synthetic datasets', () => {
  it('spirals are deterministic for a seed and differ across seeds', async () => {
    const a = await loadDataset({ kind: 'spirals', classes: 3, samples: 300, noise: 0.2, seed: 5 });
    const b = await loadDataset({ kind: 'spirals', classes: 3, samples: 300, noise: 0.2, seed: 5 });
    const c = await loadDataset({ kind: 'spirals', classes: 3, samples: 300, noise: 0.2, seed: 6 });
    expect(a.train.x).toEqual(b.train.x);
    expect(a.test.y).toEqual(b.test.y);
    expect(a.train.x).not.toEqual(c.train.x);
    expect(a.train.n + a.test.n).toBe(300);
    expect(a.test.n).toBe(60);
    expect(a.inputShape).toEqual([2]);
    expect(new Set(a.train.y).size).toBe(3);
    const { xMin, xMax } = a.bounds!;
    for (const v of a.train.x) expect(v > xMin && v < xMax).toBe(true);
  });

  it('gaussians have N balanced classes around separated centres', async () => {
    const d = await loadDataset({ kind: 'gaussians', classes: 5, samples: 500, spread: 0.1, seed: 1 });
    const counts = new Array(5).fill(0);
    for (const y of [...d.train.y, ...d.test.y]) counts[y]++;
    expect(counts).toEqual([100, 100, 100, 100, 100]);
    // With a tiny spread the nearest centre is the label.
    const r = 2.5;
    for (let i = 0; i < d.test.n; i++) {
      const x = d.test.x[2 * i]!, y = d.test.x[2 * i + 1]!;
      let best = -1, bd = Infinity;
      for (let c = 0; c < 5; c++) {
        const a = (c * 2 * Math.PI) / 5;
        const dd = (x - r * Math.cos(a)) ** 2 + (y - r * Math.sin(a)) ** 2;
        if (dd < bd) [bd, best] = [dd, c];
      }
      expect(best).toBe(d.test.y[i]);
    }
  });
});

describe('BatchIterator', () => {
  const split = { x: Float32Array.from({ length: 20 }, (_, i) => i), y: Int32Array.from({ length: 10 }, (_, i) => i), n: 10 };

  it('visits every sample once per epoch, in a seeded order', () => {
    const it1 = new BatchIterator(split, 5, 3);
    const epoch = [...it1.next().y, ...it1.next().y];
    expect([...epoch].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(epoch).not.toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const it2 = new BatchIterator(split, 5, 3);
    expect([...it2.next().y, ...it2.next().y]).toEqual(epoch);
    // features follow labels
    const b = new BatchIterator(split, 3, 3).next();
    for (let k = 0; k < 3; k++) expect(b.x[2 * k]).toBe(2 * b.y[k]!);
  });

  it('restores from a saved state to the same batch sequence, across epochs', () => {
    const a = new BatchIterator(split, 4, 9);
    for (let i = 0; i < 3; i++) a.next();
    const saved = JSON.parse(JSON.stringify(a.getState()));
    const rest = Array.from({ length: 6 }, () => [...a.next().y]);
    const b = new BatchIterator(split, 4, 9, saved);
    expect(Array.from({ length: 6 }, () => [...b.next().y])).toEqual(rest);
  });

  it('sequentialBatches covers a split once', () => {
    const sizes = [...sequentialBatches(split, 4)].map((b) => b.size);
    expect(sizes).toEqual([4, 4, 2]);
  });
});
