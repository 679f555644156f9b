import { describe, expect, it } from 'vitest';
import type { TokenRouting } from '../../../core/protocol/protocol.js';
import { categoryColor } from '../charts/heatmapColor.js';
import { loadOverPositions, NO_EXPERT_COLOR, tokenCells, tokenClassMatrix } from './tokenViewData.js';

const tok = (text: string, ...layers: [number[], number[]][]) => ({ id: text.charCodeAt(0), text, layers: layers.map(([experts, gates]) => ({ experts, gates })) });

/** Two sequences "ab " and "ba" over three slots, two layers; layer 1 sends the first 'a' nowhere. */
const routing: TokenRouting = {
  runId: 'r',
  arch: { stages: [] },
  split: 'val',
  tokenKind: 'character',
  layers: [
    { layer: 't.b0', expertNames: ['e0', 'e1', 'e2'] },
    { layer: 't.b1', expertNames: ['e0', 'e1', 'e2'] },
  ],
  sequences: [
    { sample: 0, group: null, tokens: [tok('a', [[1, 0], [0.7, 0.3]], [[], []]), tok('b', [[2, 1], [0.6, 0.4]], [[0], [1]]), tok(' ', [[1], [1]], [[2], [1]])] },
    { sample: 1, group: null, tokens: [tok('b', [[2, 0], [0.9, 0.1]], [[0], [1]]), tok('a', [[0, 1], [0.5, 0.5]], [[1], [1]])] },
  ],
};

describe('token view data', () => {
  it('colours each token by its highest-gate slot and lists every gate for the hover', () => {
    const cells = tokenCells(routing, 0);
    expect(cells.map((s) => s.map((c) => c.expert))).toEqual([
      [1, 2, 1],
      [2, 0],
    ]);
    expect(cells[0]![0]!.color).toBe(categoryColor(1));
    expect(cells[0]![0]!.gates).toBe('e1 0.700 · e0 0.300');
    expect(cells[0]![2]!.text).toBe('·');
    const l1 = tokenCells(routing, 1);
    expect(l1[0]![0]).toMatchObject({ expert: null, color: NO_EXPERT_COLOR, gates: 'no expert' });
  });

  it('load over positions: share of each position\'s assignments per slot', () => {
    // Position 0: e1, e0 (seq 0) and e2, e0 (seq 1) → e0 2/4, e1 1/4, e2 1/4.
    // Position 1: e2, e1 and e0, e1 → e0 1/4, e1 2/4, e2 1/4. Position 2: e1 alone → 1.
    expect(loadOverPositions(routing, 0)).toEqual([
      [0.5, 0.25, 0],
      [0.25, 0.5, 1],
      [0.25, 0.25, 0],
    ]);
    // Layer 1, position 0: only seq 1's e0 (seq 0's token used none).
    expect(loadOverPositions(routing, 1).map((r) => r[0])).toEqual([1, 0, 0]);
  });

  it('expert × token-class matrix counts tokens at their top expert, most frequent class first', () => {
    const m = tokenClassMatrix(routing, 0);
    expect(m.rowLabels).toEqual(['a', 'b', '·']);
    expect(m.colLabels).toEqual(['e0', 'e1', 'e2']);
    // 'a': top e1 (seq 0), top e0 (seq 1, tie 0.5/0.5 listed e0 first); 'b': e2 twice; ' ': e1.
    expect(m.counts).toEqual([
      [1, 1, 0],
      [0, 0, 2],
      [0, 1, 0],
    ]);
    expect(m.totals).toEqual([2, 2, 1]);
    expect(tokenClassMatrix(routing, 0, 1).rowLabels).toEqual(['a']);
    // A token routed nowhere counts in its class's total but in no cell.
    expect(tokenClassMatrix(routing, 1).counts[0]).toEqual([0, 1, 0]);
  });
});
