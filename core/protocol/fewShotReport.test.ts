import { describe, expect, it } from 'vitest';
import { decodeFewShotSplits, encodeFewShotSplits, fewShotTree, type FewShotSplitView } from './fewShotReport.js';

const edge = (position: number, score: number, groups: [number[], number[]], n: number) => ({
  position, score, groups, similarity: Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => (i === j ? 1 : score + 0.01 * (i + j)))),
});

describe('few-shot report', () => {
  it('round-trips splits through MetricPoint numbers and rebuilds the split tree', () => {
    const splits: FewShotSplitView[] = [
      { step: 8, leaf: 0, newLeaf: 1, chosen: 1, edges: [edge(2, 0.7, [[0], [1, 2]], 3), edge(4, 0.2, [[0, 1], [2, 3]], 4)] },
      { step: 16, leaf: 0, newLeaf: 2, chosen: 0, edges: [edge(2, 0.5, [[0, 2], [1]], 3)] },
      { step: 16, leaf: 1, newLeaf: 3, chosen: 0, edges: [edge(6, 0.1, [[0], [1]], 2)] },
    ];
    const report = encodeFewShotSplits(splits);
    expect(Object.keys(report).every((k) => k.includes('/'))).toBe(true);
    expect(decodeFewShotSplits(report)).toEqual(splits);
    expect(fewShotTree(splits)).toEqual({
      position: 4, groups: [[0, 1], [2, 3]], step: 8,
      children: [
        { position: 2, groups: [[0, 2], [1]], step: 16, children: [{ leaf: 0 }, { leaf: 2 }] },
        { position: 6, groups: [[0], [1]], step: 16, children: [{ leaf: 1 }, { leaf: 3 }] },
      ],
    });
    expect(decodeFewShotSplits({ other: 1 })).toBeNull();
  });
});
