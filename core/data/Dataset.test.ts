import { describe, expect, it } from 'vitest';
import { BatchIterator, sequentialBatches } from './BatchIterator.js';
import { holdOutValidation, loadDataset, MIN_VAL_SAMPLES, validationSize } from './Dataset.js';

describe('synthetic datasets', () => {
  it('spirals are deterministic for a seed and differ across seeds', async () => {
    const a = await loadDataset({ kind: 'spirals', classes: 3, samples: 300, noise: 0.2, seed: 5 });
    const b = await loadDataset({ kind: 'spirals', classes: 3, samples: 300, noise: 0.2, seed: 5 });
    const c = await loadDataset({ kind: 'spirals', classes: 3, samples: 300, noise: 0.2, seed: 6 });
    expect(a.train.x).toEqual(b.train.x);
    expect(a.test.y).toEqual(b.test.y);
    expect(a.train.x).not.toEqual(c.train.x);
    expect(a.train.n + a.val.n + a.test.n).toBe(300);
    expect(a.test.n).toBe(60);
    expect(a.val.n).toBe(MIN_VAL_SAMPLES);
    expect(a.inputShape).toEqual([2]);
    expect(new Set(a.train.y).size).toBe(3);
    const { xMin, xMax } = a.bounds!;
    for (const v of a.train.x) expect(v > xMin && v < xMax).toBe(true);
  });

  it('gaussians have N balanced classes around separated centres', async () => {
    const d = await loadDataset({ kind: 'gaussians', classes: 5, samples: 500, spread: 0.1, seed: 1 });
    const counts = new Array(5).fill(0);
    for (const y of [...d.train.y, ...d.val.y, ...d.test.y]) counts[y]++;
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

describe('validation split', () => {
  // Sample i has features [i, −i]: which samples a split holds can be read off its features.
  const n = 1000;
  const source = { x: Float32Array.from({ length: 2 * n }, (_, k) => (k % 2 ? -1 : 1) * Math.floor(k / 2)), y: Int32Array.from({ length: n }, (_, i) => i % 7), n };

  it('is carved from the training set by a seeded permutation, disjoint from every batch the trainer draws', () => {
    const a = holdOutValidation(source, 0.1, 42);
    expect(a.val.n).toBe(100);
    expect(a.train.n).toBe(900);
    const valIds = new Set(Array.from({ length: a.val.n }, (_, k) => a.val.x[2 * k]!));
    expect(valIds.size).toBe(100);
    // Not the first 100 (a seeded random subset), labels follow features.
    expect([...valIds].every((i) => i < 100)).toBe(false);
    for (let k = 0; k < a.val.n; k++) expect(a.val.y[k]).toBe(a.val.x[2 * k]! % 7);
    // Three epochs of training batches never contain a validation sample, and cover the rest.
    const it = new BatchIterator(a.train, 64, 3);
    const seen = new Set<number>();
    for (let b = 0; b < Math.ceil((3 * 900) / 64); b++) {
      const batch = it.next();
      for (let k = 0; k < batch.size; k++) {
        const id = batch.x[2 * k]!;
        expect(valIds.has(id)).toBe(false);
        seen.add(id);
      }
    }
    expect(seen.size + valIds.size).toBe(n);
    // The same seed gives the same split; another seed another one.
    expect(holdOutValidation(source, 0.1, 42).valIndices).toEqual(a.valIndices);
    expect(holdOutValidation(source, 0.1, 43).valIndices).not.toEqual(a.valIndices);
  });

  it('has a configurable size with a floor for small sets', async () => {
    expect(validationSize(60000, 0.1)).toBe(6000);
    expect(validationSize(60000, 0.05)).toBe(3000);
    expect(validationSize(100, 0.1)).toBe(MIN_VAL_SAMPLES);
    expect(validationSize(40, 0.1)).toBe(20);
    const d = await loadDataset({ kind: 'gaussians', classes: 3, samples: 2000, spread: 0.5, seed: 2, valFraction: 0.25 });
    expect(d.val.n).toBe(400);
    expect(d.train.n).toBe(1200);
    // Continuous features: no validation point equals a training point.
    const trainPts = new Set(Array.from({ length: d.train.n }, (_, k) => `${d.train.x[2 * k]},${d.train.x[2 * k + 1]}`));
    for (let k = 0; k < d.val.n; k++) expect(trainPts.has(`${d.val.x[2 * k]},${d.val.x[2 * k + 1]}`)).toBe(false);
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
