/**
 * A synthetic sequence workload where experts have something to specialise on: each sample is one of
 * copy / reverse / sort applied to a random string, and the task id is not in the input.
 *
 * A sample is  a1 … an <sep> b1 … bn  read causally: x = the first 2n tokens, and the targets are the n
 * tokens after <sep> (prompt positions carry IGNORE_TARGET). The model has to infer the task from what it
 * has produced so far: b1 alone is ambiguous (a1, an or min a), so the first output is scored but cannot be
 * right for every task; from b2 on the task is identifiable in almost every sample. Split.groups holds the
 * hidden task, so expert × task matrices can show whether routing separated them.
 *
 * Inputs are drawn with repetition from `symbols` letters; train, validation and test come from one seeded
 * stream, and a test or validation string that also occurs in training (same task) is redrawn, so the
 * held-out splits measure the rule, not memory.
 */
import { SequenceTaskName } from '../protocol/protocol.js';
import { createRng, type Rng } from '../space/rng.js';
import { DatasetError, IGNORE_TARGET, type Split, type TokenSpec } from './DatasetContract.js';

export const SEQUENCE_TASKS = SequenceTaskName.options;
export type SequenceTask = SequenceTaskName;
export const SEP = '<sep>';

export interface SequenceTaskOptions {
  tasks: readonly SequenceTask[];
  /** Input string length n (a sample is 2n tokens). */
  length: number;
  /** Alphabet size (letters a, b, …). */
  symbols: number;
  samples: number;
  valFraction: number;
  testFraction: number;
  seed: number;
}

export interface SequenceTaskData {
  train: Split;
  val: Split;
  test: Split;
  tokens: TokenSpec;
}

export function applyTask(task: SequenceTask, a: readonly number[]): number[] {
  switch (task) {
    case 'copy':
      return [...a];
    case 'reverse':
      return [...a].reverse();
    case 'sort':
      return [...a].sort((p, q) => p - q);
  }
}

/** Vocabulary: the letters (ids 0 … symbols−1), then <sep>. */
export function sequenceVocab(symbols: number): string[] {
  return [...Array.from({ length: symbols }, (_, i) => String.fromCharCode(97 + i)), SEP];
}

function drawString(rng: Rng, n: number, symbols: number): number[] {
  return Array.from({ length: n }, () => rng.int(symbols));
}

function toSplit(rows: { task: number; a: number[] }[], opts: SequenceTaskOptions): Split {
  const n = opts.length;
  const T = 2 * n;
  const sep = opts.symbols;
  const x = new Float32Array(rows.length * T);
  const targets = new Int32Array(rows.length * T).fill(IGNORE_TARGET);
  const y = new Int32Array(rows.length);
  const groups = new Int32Array(rows.length);
  rows.forEach((r, i) => {
    const b = applyTask(opts.tasks[r.task]!, r.a);
    const seq = [...r.a, sep, ...b];
    for (let t = 0; t < T; t++) {
      x[i * T + t] = seq[t]!;
      // Position t predicts seq[t + 1]; only the answer (after <sep>, at t ≥ n) is scored.
      if (t >= n) targets[i * T + t] = seq[t + 1]!;
    }
    y[i] = b[n - 1]!;
    groups[i] = r.task;
  });
  return { x, y, n: rows.length, targets, groups };
}

export function makeSequenceTasks(opts: SequenceTaskOptions): SequenceTaskData {
  if (opts.tasks.length === 0) throw new DatasetError('sequence-tasks: tasks: give at least one of copy, reverse, sort');
  if (opts.symbols < 2) throw new DatasetError('sequence-tasks: symbols: at least 2 letters');
  const rng = createRng(opts.seed);
  const nTest = Math.max(1, Math.round(opts.samples * opts.testFraction));
  const nVal = Math.max(1, Math.round(opts.samples * opts.valFraction));
  const nTrain = opts.samples - nTest - nVal;
  if (nTrain < 1) throw new DatasetError('sequence-tasks: samples: too few for train, validation and test');
  const draw = () => ({ task: rng.int(opts.tasks.length), a: drawString(rng, opts.length, opts.symbols) });
  const train = Array.from({ length: nTrain }, draw);
  const seen = new Set(train.map((r) => `${r.task}:${r.a.join(',')}`));
  // Held-out strings are redrawn while they occur in training; a space too small to hold them all stops trying.
  const heldOut = (count: number) =>
    Array.from({ length: count }, () => {
      let r = draw();
      for (let tries = 0; tries < 100 && seen.has(`${r.task}:${r.a.join(',')}`); tries++) r = draw();
      return r;
    });
  const val = heldOut(nVal);
  const test = heldOut(nTest);
  return {
    train: toSplit(train, opts),
    val: toSplit(val, opts),
    test: toSplit(test, opts),
    tokens: { vocab: sequenceVocab(opts.symbols), seqLen: 2 * opts.length, groupNames: [...opts.tasks] },
  };
}
