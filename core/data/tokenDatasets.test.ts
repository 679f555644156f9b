import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DatasetConfig } from '../protocol/protocol.js';
import { BatchIterator, sequentialBatches } from './BatchIterator.js';
import { loadDataset, pickSamples } from './Dataset.js';
import { FASHION_MNIST_DIR } from './fashionMnist.js';
import { FORTUNES_DIR } from './textCorpus.js';

describe('token datasets through loadDataset', () => {
  it('sequence tasks: classes are the tokens, batches carry targets and groups row by row', async () => {
    const ds = await loadDataset(DatasetConfig.parse({ kind: 'sequence-tasks', length: 4, symbols: 5, samples: 200 }));
    expect(ds.inputShape).toEqual([8]);
    expect(ds.numClasses).toBe(6);
    expect(ds.classNames).toEqual(ds.tokens!.vocab);
    expect(ds.tokens!.groupNames).toEqual(['copy', 'reverse', 'sort']);
    const it = new BatchIterator(ds.train, 7, 1);
    const b = it.next();
    expect(b.targets!.length).toBe(7 * 8);
    // Each batch row's targets belong to the same sample as its x: find the sample by its input.
    for (let k = 0; k < 7; k++) {
      const row = Array.from(b.x.subarray(k * 8, k * 8 + 8)).join();
      const j = Array.from({ length: ds.train.n }, (_, i) => i).find(
        (i) => Array.from(ds.train.x.subarray(i * 8, i * 8 + 8)).join() === row && ds.train.groups![i] === b.groups![k],
      )!;
      expect(Array.from(b.targets!.subarray(k * 8, k * 8 + 8))).toEqual(Array.from(ds.train.targets!.subarray(j * 8, j * 8 + 8)));
    }
    const seq = [...sequentialBatches(ds.val, 16)];
    expect(seq.reduce((a, s) => a + s.targets!.length, 0)).toBe(ds.val.n * 8);
  });

  it('pickSamples keeps each sample\'s targets and group with it', async () => {
    const ds = await loadDataset(DatasetConfig.parse({ kind: 'sequence-tasks', length: 3, symbols: 4, samples: 100 }));
    const p = pickSamples(ds.train, [5, 2]);
    expect(Array.from(p.targets!)).toEqual([...ds.train.targets!.subarray(30, 36), ...ds.train.targets!.subarray(12, 18)]);
    expect(Array.from(p.groups!)).toEqual([ds.train.groups![5], ds.train.groups![2]]);
  });

  it.skipIf(!existsSync(FORTUNES_DIR))('text: the fortunes with a character cap, baseline on val', async () => {
    const ds = await loadDataset(DatasetConfig.parse({ kind: 'text', seqLen: 32, maxChars: 3200 }));
    expect(ds.kind).toBe('text');
    expect(ds.inputShape).toEqual([32]);
    expect(ds.train.n).toBe(100);
    expect(ds.tokens!.unigramBaseline!.n).toBe(ds.val.n * 32);
  });

  it.skipIf(!existsSync(FASHION_MNIST_DIR))('fashion-mnist with patch 7: 16 tokens of 49 pixels', async () => {
    const ds = await loadDataset(DatasetConfig.parse({ kind: 'fashion-mnist', limit: 100, patch: 7 }));
    expect(ds.inputShape).toEqual([16, 49]);
    expect(ds.train.x.length).toBe(ds.train.n * 784);
  });

  it('the schema names a bad field of the new kinds', () => {
    const r = DatasetConfig.safeParse({ kind: 'sequence-tasks', tasks: ['copy', 'shuffle'] });
    expect(r.success).toBe(false);
    expect(r.error!.issues[0]!.path).toEqual(['tasks', 1]);
    expect(DatasetConfig.safeParse({ kind: 'text', seqLen: 1 }).error!.issues[0]!.path).toEqual(['seqLen']);
  });
});
