import { describe, expect, it } from 'vitest';
import { IGNORE_TARGET } from './DatasetContract.js';
import { makeSequenceTasks, SEQUENCE_TASKS } from './sequenceTasks.js';

const opts = { tasks: SEQUENCE_TASKS, length: 6, symbols: 8, samples: 600, valFraction: 0.1, testFraction: 0.1, seed: 2 };

describe('sequence tasks (copy / reverse / sort, task hidden)', () => {
  it('targets are the task applied to the prompt, only after <sep>, and the task id is not in the input', () => {
    const d = makeSequenceTasks(opts);
    const T = 12;
    expect(d.tokens.seqLen).toBe(T);
    expect(d.tokens.vocab).toEqual(['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', '<sep>']);
    const seenTasks = new Set<number>();
    for (let i = 0; i < d.train.n; i++) {
      const x = Array.from(d.train.x.subarray(i * T, (i + 1) * T));
      const tg = Array.from(d.train.targets!.subarray(i * T, (i + 1) * T));
      const a = x.slice(0, 6);
      expect(x[6]).toBe(8);
      expect(tg.slice(0, 6)).toEqual(new Array(6).fill(IGNORE_TARGET));
      const answer = tg.slice(6);
      // Independent statement of each task.
      const want = [a, [...a].reverse(), [...a].sort((p, q) => p - q)][d.train.groups![i]!]!;
      expect(answer).toEqual(want);
      // Teacher forcing: the answer tokens after the first are the input's positions 7..11.
      expect(x.slice(7)).toEqual(answer.slice(0, 5));
      expect(d.train.y[i]).toBe(answer[5]);
      // The input holds letters and one <sep>: no token encodes the task.
      expect(x.filter((v) => v === 8).length).toBe(1);
      seenTasks.add(d.train.groups![i]!);
    }
    expect([...seenTasks].sort()).toEqual([0, 1, 2]);
  });

  it('is deterministic for a seed; held-out strings do not occur in training for the same task', () => {
    const a = makeSequenceTasks(opts);
    const b = makeSequenceTasks(opts);
    expect(a.val.x).toEqual(b.val.x);
    expect(makeSequenceTasks({ ...opts, seed: 3 }).val.x).not.toEqual(a.val.x);
    expect([a.train.n, a.val.n, a.test.n]).toEqual([480, 60, 60]);
    const key = (s: typeof a.train, i: number) => `${s.groups![i]}:${Array.from(s.x.subarray(i * 12, i * 12 + 6)).join(',')}`;
    const train = new Set(Array.from({ length: a.train.n }, (_, i) => key(a.train, i)));
    for (const s of [a.val, a.test]) for (let i = 0; i < s.n; i++) expect(train.has(key(s, i))).toBe(false);
  });

  it('rejects an empty task list and too few samples with the field named', () => {
    expect(() => makeSequenceTasks({ ...opts, tasks: [] })).toThrow(/tasks/);
    expect(() => makeSequenceTasks({ ...opts, samples: 2 })).toThrow(/samples/);
  });
});
