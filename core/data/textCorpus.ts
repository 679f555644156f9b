/**
 * A character-level language-model corpus from a folder of plain-text files: by default the Debian
 * `fortunes` package (fortunes separated by lines holding only '%'), or any folder of .txt files.
 *
 * - Documents: a file with '%' lines is a fortune file and each fortune is a document; any other file's
 *   documents are its paragraphs (blocks between blank lines), so one long book still spreads over the
 *   three splits.
 * - Split by document, not by window: a document's hash (FNV-1a of its text, mixed with the seed) picks its
 *   split, so the split does not depend on file order, a duplicate fortune (the package has a few) never
 *   sits in two splits, and adding a file moves no existing document.
 * - Vocabulary: the characters of the training split (code-point order) after two specials, <unk> (a
 *   character the training split never holds) and <eod> (the end of every document, scored like a character).
 * - Samples: each split's documents concatenated (each followed by <eod>) and cut into windows of
 *   seqLen + 1 tokens with stride seqLen: x = window[0..seqLen), targets = window[1..seqLen] (Karpathy's
 *   char-rnn / nanoGPT shakespeare_char set-up, without overlap so every target is scored once per epoch).
 * - Baseline: a unigram model from the training counts (add-one smoothed) scored on the validation targets,
 *   in bits per character, the number a trained model has to beat.
 */
import { lstat, readdir, readFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { DatasetError, type Split, type TokenSpec } from './DatasetContract.js';

export const FORTUNES_DIR = '/usr/share/games/fortunes';
export const UNK = '<unk>';
export const EOD = '<eod>';

export interface TextDocument {
  /** File the document came from (relative to the folder). */
  file: string;
  text: string;
}

export interface TextCorpusOptions {
  dir: string;
  /** Tokens per sample. */
  seqLen: number;
  valFraction: number;
  testFraction: number;
  seed: number;
  /** Keep at most this many characters of each split's stream (0 = all); cuts after splitting. */
  maxChars: number;
}

export interface TextCorpus {
  train: Split;
  val: Split;
  test: Split;
  tokens: TokenSpec;
  /** Documents per split (what the split is made of). */
  documents: { train: number; val: number; test: number };
}

/** Files of a folder that hold text: `.txt` files, and extension-less files (fortune files; their .dat index and .u8 links are skipped). */
export async function listTextFiles(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (e) {
    throw new DatasetError(`${dir}: cannot read the text folder (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  const files: string[] = [];
  for (const name of names.sort()) {
    const ext = extname(name);
    if (ext !== '' && ext !== '.txt') continue;
    if (name.startsWith('.')) continue;
    const st = await lstat(join(dir, name));
    if (st.isFile()) files.push(name);
  }
  if (files.length === 0) throw new DatasetError(`${dir}: no .txt or fortune files in the text folder`);
  return files;
}

/**
 * Remove terminal overstriking (x BACKSPACE y prints y over x; the art and humorists fortunes use it for
 * bold and underline), then any other control character but newline and tab (bells), and CRLF endings.
 */
export function normaliseText(text: string): string {
  return text
    .replace(/[^\n]\x08/g, '')
    .replace(/\r\n?/g, '\n')
    .replace(/[\x00-\x08\x0b-\x1f\x7f]/g, '');
}

/** A file's documents: its fortunes when it has '%' lines, else its paragraphs. Empty ones are dropped. */
export function splitDocuments(file: string, raw: string): TextDocument[] {
  const text = normaliseText(raw);
  const lines = text.split('\n');
  const isFortune = lines.some((l) => l === '%');
  const parts = isFortune ? text.split(/^%$/m) : text.split(/\n(?:[ \t]*\n)+/);
  // Blank lines around a document go; the indentation of its first line (fortunes' attributions) stays.
  return parts.map((p) => p.replace(/^(?:[ \t]*\n)+|\s+$/g, '')).filter((p) => p.length > 0).map((p) => ({ file, text: p }));
}

export async function readDocuments(dir: string): Promise<TextDocument[]> {
  const docs: TextDocument[] = [];
  for (const file of await listTextFiles(dir)) {
    docs.push(...splitDocuments(file, await readFile(join(dir, file), 'utf8')));
  }
  return docs;
}

/** FNV-1a over UTF-16 code units, finished with a murmur-style mix so nearby texts spread over [0, 1). */
export function documentHash(text: string, seed: number): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b) >>> 0;
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35) >>> 0;
  h ^= h >>> 16;
  return (h >>> 0) / 4294967296;
}

export type SplitName = 'train' | 'val' | 'test';

export function documentSplit(text: string, opts: Pick<TextCorpusOptions, 'valFraction' | 'testFraction' | 'seed'>): SplitName {
  const u = documentHash(text, opts.seed);
  if (u < opts.testFraction) return 'test';
  if (u < opts.testFraction + opts.valFraction) return 'val';
  return 'train';
}

/** <unk>, <eod>, then every character of the training documents in code-point order. */
export function buildVocab(trainDocs: readonly TextDocument[]): string[] {
  const chars = new Set<string>();
  for (const d of trainDocs) for (const ch of d.text) chars.add(ch);
  return [UNK, EOD, ...[...chars].sort((a, b) => a.codePointAt(0)! - b.codePointAt(0)!)];
}

/** Token ids of documents concatenated, each followed by <eod>; characters outside the vocabulary become <unk>. */
export function encodeDocuments(docs: readonly TextDocument[], vocab: readonly string[]): Int32Array {
  const id = new Map(vocab.map((t, i) => [t, i]));
  const out: number[] = [];
  for (const d of docs) {
    for (const ch of d.text) out.push(id.get(ch) ?? 0);
    out.push(1);
  }
  return Int32Array.from(out);
}

/** Non-overlapping next-token windows: sample i reads stream[i·T .. i·T+T) and predicts stream[i·T+1 .. i·T+T]. */
export function windowSplit(stream: Int32Array, seqLen: number): Split {
  const n = Math.max(0, Math.floor((stream.length - 1) / seqLen));
  const x = new Float32Array(n * seqLen);
  const targets = new Int32Array(n * seqLen);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    for (let t = 0; t < seqLen; t++) {
      x[i * seqLen + t] = stream[i * seqLen + t]!;
      targets[i * seqLen + t] = stream[i * seqLen + t + 1]!;
    }
    y[i] = targets[i * seqLen + seqLen - 1]!;
  }
  return { x, y, n, targets, groups: new Int32Array(n) };
}

/**
 * Cross-entropy in bits per token of a unigram model fitted to `train` (add-one smoothing over the
 * vocabulary) on `evalTokens`.
 */
export function unigramBitsPerChar(train: Int32Array, evalTokens: Int32Array, vocabSize: number): number {
  const counts = new Float64Array(vocabSize).fill(1);
  for (const t of train) counts[t]! += 1;
  const total = train.length + vocabSize;
  let bits = 0;
  for (const t of evalTokens) bits -= Math.log2(counts[t]! / total);
  return bits / evalTokens.length;
}

export async function loadTextCorpus(opts: TextCorpusOptions): Promise<TextCorpus> {
  const docs = await readDocuments(opts.dir);
  const bySplit: Record<SplitName, TextDocument[]> = { train: [], val: [], test: [] };
  for (const d of docs) bySplit[documentSplit(d.text, opts)].push(d);
  for (const s of ['train', 'val', 'test'] as const) {
    if (bySplit[s].length === 0) {
      throw new DatasetError(`${opts.dir}: ${docs.length} documents leave the ${s} split empty; add text or change valFraction/testFraction`);
    }
  }
  const vocab = buildVocab(bySplit.train);
  const cut = (s: Int32Array) => (opts.maxChars > 0 && s.length > opts.maxChars + 1 ? s.subarray(0, opts.maxChars + 1) : s);
  const streams = {
    train: cut(encodeDocuments(bySplit.train, vocab)),
    val: cut(encodeDocuments(bySplit.val, vocab)),
    test: cut(encodeDocuments(bySplit.test, vocab)),
  };
  const splits = { train: windowSplit(streams.train, opts.seqLen), val: windowSplit(streams.val, opts.seqLen), test: windowSplit(streams.test, opts.seqLen) };
  for (const s of ['train', 'val', 'test'] as const) {
    if (splits[s].n === 0) throw new DatasetError(`${opts.dir}: the ${s} split holds fewer than seqLen + 1 = ${opts.seqLen + 1} characters`);
  }
  // The baseline scores exactly the validation targets a model is scored on.
  const valTargets = splits.val.targets!;
  return {
    ...splits,
    tokens: {
      vocab,
      seqLen: opts.seqLen,
      groupNames: ['text'],
      unigramBaseline: { split: 'val', bitsPerChar: unigramBitsPerChar(streams.train, valTargets, vocab.length), n: valTargets.length },
    },
    documents: { train: bySplit.train.length, val: bySplit.val.length, test: bySplit.test.length },
  };
}
