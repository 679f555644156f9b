import { describe, expect, it } from 'vitest';
import { decodeDartsEdges, encodeDartsEdges, removalImportance, type DartsEdgeView } from './dartsReport.js';

describe('DARTS report', () => {
  it('round-trips α and decisions through MetricPoint numbers', () => {
    const edges: DartsEdgeView[] = [
      { position: 2, weights: [0.2, 0.8], selection: { step: 24, base: 0.9, without: [0.85, 0.4], chosen: 1 } },
      { position: 5, weights: [0.1, 0.3, 0.6], selection: null },
    ];
    const r = encodeDartsEdges(edges);
    expect(Object.keys(r).every((k) => k.includes('/'))).toBe(true);
    expect(decodeDartsEdges(r)).toEqual(edges);
    expect(removalImportance(edges[0]!.selection!).map((v) => +v.toFixed(6))).toEqual([0.05, 0.5]);
    expect(decodeDartsEdges({ x: 1 })).toBeNull();
  });
});
