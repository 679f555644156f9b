import { mkdtemp, symlink, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DatasetError } from './DatasetContract.js';
import {
  EOD,
  FORTUNES_DIR,
  UNK,
  documentSplit,
  loadTextCorpus,
  readDocuments,
  splitDocuments,
  normaliseText,
  unigramBitsPerChar,
  windowSplit,
} from './textCorpus.js';

const opts = { seqLen: 16, valFraction: 0.2, testFraction: 0.2, seed: 3, maxChars: 0 };

/** A folder of N numbered fortunes in two files (plus a .dat and a .u8 link that must be skipped), and a .txt of paragraphs. */
async function corpusDir(n: number): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'corpus-'));
  const fortunes = Array.from({ length: n }, (_, i) => `fortune number ${i}\nsecond line of ${i}`);
  await writeFile(join(dir, 'a'), fortunes.slice(0, n / 2).join('\n%\n') + '\n%\n');
  await writeFile(join(dir, 'b'), fortunes.slice(n / 2).join('\n%\n') + '\n');
  await writeFile(join(dir, 'a.dat'), Buffer.from([0, 1, 2, 255]));
  await symlink(join(dir, 'a'), join(dir, 'a.u8'));
  await writeFile(join(dir, 'book.txt'), 'para one\nstill one\n\n  \npara two\n');
  return dir;
}

describe('text corpus', () => {
  it('reads fortunes by %, .txt files by paragraph, and skips .dat files and .u8 links', async () => {
    const docs = await readDocuments(await corpusDir(10));
    expect(docs.length).toBe(12);
    expect(docs.filter((d) => d.file === 'book.txt').map((d) => d.text)).toEqual(['para one\nstill one', 'para two']);
    expect(docs[0]).toEqual({ file: 'a', text: 'fortune number 0\nsecond line of 0' });
    expect(splitDocuments('x', 'one\n%\n%\ntwo\n').map((d) => d.text)).toEqual(['one', 'two']);
  });

  it('removes overstriking (char, backspace) pairs and control characters but newline and tab', () => {
    expect(normaliseText('_\bb_\bo_\bl_\bd x\r\n\x07\tz')).toBe('bold x\n\tz');
  });

  it('splits by document: deterministic, disjoint, independent of file order, and the seed changes it', async () => {
    const dir = await corpusDir(200);
    const docs = await readDocuments(dir);
    const assign = (seed: number) => docs.map((d) => documentSplit(d.text, { ...opts, seed }));
    expect(assign(3)).toEqual(assign(3));
    expect(assign(3)).not.toEqual(assign(4));
    const counts = { train: 0, val: 0, test: 0 };
    for (const s of assign(3)) counts[s]++;
    // 202 documents at 60/20/20: each split within a loose binomial band.
    expect(counts.val).toBeGreaterThan(20);
    expect(counts.test).toBeGreaterThan(20);
    expect(counts.train).toBeGreaterThan(90);

    const a = await loadTextCorpus({ dir, ...opts });
    const b = await loadTextCorpus({ dir, ...opts });
    expect(a.train.x).toEqual(b.train.x);
    expect(a.val.targets).toEqual(b.val.targets);
    expect(a.documents).toEqual(counts);
    // Decode each split's windows back to text and check no document's number appears in two splits.
    const decode = (s: typeof a.train) => Array.from(s.x, (v) => a.tokens.vocab[v]!).join('');
    const ids = (text: string) => new Set([...text.matchAll(/fortune number (\d+)/g)].map((m) => m[1]!));
    const [tr, va, te] = [ids(decode(a.train)), ids(decode(a.val)), ids(decode(a.test))];
    for (const i of va) expect(tr.has(i) || te.has(i)).toBe(false);
    for (const i of te) expect(tr.has(i)).toBe(false);
    expect(va.size).toBeGreaterThan(10);
  });

  it('windows predict the next token, the vocabulary starts with <unk>, <eod>, and unseen characters map to <unk>', async () => {
    const stream = Int32Array.from([5, 6, 7, 8, 9, 10, 11]);
    const w = windowSplit(stream, 3);
    expect(w.n).toBe(2);
    expect(Array.from(w.x)).toEqual([5, 6, 7, 8, 9, 10]);
    expect(Array.from(w.targets!)).toEqual([6, 7, 8, 9, 10, 11]);
    expect(Array.from(w.y)).toEqual([8, 11]);

    const dir = await corpusDir(40);
    await writeFile(join(dir, 'c'), Array.from({ length: 40 }, (_, i) => `zz${i} \u00e9t\u00e9`).join('\n%\n'));
    const c = await loadTextCorpus({ dir, ...opts });
    expect(c.tokens.vocab.slice(0, 2)).toEqual([UNK, EOD]);
    const rest = c.tokens.vocab.slice(2);
    expect(rest).toEqual([...rest].sort());
    // Every id is inside the vocabulary.
    for (const v of c.val.x) expect(v >= 0 && v < c.tokens.vocab.length).toBe(true);
  });

  it('the unigram baseline equals an independent count on the validation text', async () => {
    const train = Int32Array.from([0, 1, 1, 2, 2, 2]);
    const val = Int32Array.from([2, 1, 0]);
    // Add-one: counts 2, 3, 4 over 9.
    const want = -(Math.log2(4 / 9) + Math.log2(3 / 9) + Math.log2(2 / 9)) / 3;
    expect(unigramBitsPerChar(train, val, 3)).toBeCloseTo(want, 12);
  });

  it('an empty split is a DatasetError naming the folder', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'corpus-'));
    await writeFile(join(dir, 'one.txt'), 'only one paragraph');
    await expect(loadTextCorpus({ dir, ...opts })).rejects.toThrow(DatasetError);
    await expect(loadTextCorpus({ dir, ...opts })).rejects.toThrow(dir);
    await expect(loadTextCorpus({ dir: join(dir, 'missing'), ...opts })).rejects.toThrow(/missing: cannot read/);
  });

  it.skipIf(!existsSync(FORTUNES_DIR))('loads the Debian fortunes: thousands of documents, baseline in a sane range', async () => {
    const c = await loadTextCorpus({ dir: FORTUNES_DIR, seqLen: 64, valFraction: 0.05, testFraction: 0.05, seed: 1, maxChars: 0 });
    expect(c.documents.train).toBeGreaterThan(10000);
    expect(c.documents.val).toBeGreaterThan(300);
    expect(c.tokens.vocab.length).toBeLessThan(200);
    const base = c.tokens.unigramBaseline!;
    // English letters' unigram entropy is about 4.1 bits; spaces, punctuation and case lift it a little.
    expect(base.bitsPerChar).toBeGreaterThan(4);
    expect(base.bitsPerChar).toBeLessThan(5.5);
    expect(base.n).toBe(c.val.n * 64);
  });
});
