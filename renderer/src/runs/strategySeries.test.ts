import { describe, expect, it } from 'vitest';
import type { MetricPoint } from '../../../core/protocol/protocol.js';
import { strategyCharts } from './strategySeries.js';

const pt = (step: number, strategy?: MetricPoint['strategy']): MetricPoint => ({ step, time: step, loss: 1, accuracy: 0.5, stepMs: 1, samplesPerSec: 1, etaSec: 0, ...(strategy ? { strategy } : {}) });

describe('strategyCharts', () => {
  it('turns each vector entry into a line over the steps and each scalar into one line', () => {
    const charts = strategyCharts([
      pt(1),
      pt(5, { 'sampling:s2.b0.width': [0.5, 0.5], dataEss: 1 }),
      pt(10, { 'sampling:s2.b0.width': [0.3, 0.7], dataEss: 0.8 }),
    ]);
    expect(charts).toEqual([
      { key: 'sampling:s2.b0.width', group: 'sampling', title: 's2.b0.width', lines: [{ label: '0', points: [[5, 0.5], [10, 0.3]] }, { label: '1', points: [[5, 0.5], [10, 0.7]] }] },
      { key: 'dataEss', group: '', title: 'dataEss', lines: [{ label: 'dataEss', points: [[5, 1], [10, 0.8]] }] },
    ]);
  });

  it('leaves structured keys (with a "/", for a strategy\'s own view) out of the charts', () => {
    expect(strategyCharts([pt(5, { subSupernets: 2, 'fewshot/splits': [1], 'fewshot/split0': [8, 0, 1, 0, 1] })]).map((c) => c.key)).toEqual(['subSupernets']);
  });

  it('is empty for strategies that report nothing', () => {
    expect(strategyCharts([pt(1), pt(2)])).toEqual([]);
  });
});
