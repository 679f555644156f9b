import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { moeLayerFixture, randomRows } from '../nn/moe/moeLayerFixture.js';
import { routingMetrics } from './routingMetrics.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});
const layers = moeLayerFixture();
afterAll(() => layers.dispose());

const collapsed = (load: number[], meanActive: number, dropped = 0, alwaysOn: number[] = []) => routingMetrics({ load, meanActive, dropped, alwaysOn }).collapse;

describe('routing metrics', () => {
  it('computes CV, dead fraction, diversity and drop rate of the issue-13 run (numbers worked by hand)', () => {
    // Loads [0, 0, .16, 0, 0, .50, 0, .34] with 53 % dropped, top-2 (0.94 experts kept per token).
    const m = routingMetrics({ load: [0, 0, 0.16, 0, 0, 0.5, 0, 0.34], dropped: 0.53, meanActive: 0.94 });
    // mean 1/8; Σ(l − 1/8)² = 5·(1/8)² + .035² + .375² + .215² = .2662; CV = √(.2662/8)·8.
    expect(m.cv).toBeCloseTo(Math.sqrt(0.2662 / 8) * 8, 6);
    expect(m.cv).toBeCloseTo(1.4593, 4);
    expect(m.deadFraction).toBe(5 / 8);
    // H = −(.16 ln .16 + .5 ln .5 + .34 ln .34) = 1.00665; exp(H)/8 = 0.34203.
    expect(m.diversity).toBeCloseTo(0.34203, 4);
    expect(m.dropRate).toBe(0.53);
  });

  it('fires on loads [0,0,.16,0,0,.50,0,.34] with 53 % dropped (the old max-share alarm missed it)', () => {
    const m = routingMetrics({ load: [0, 0, 0.16, 0, 0, 0.5, 0, 0.34], dropped: 0.53, meanActive: 0.94 });
    expect(m.collapse).toBe(true);
    expect(m.collapseReason).toContain('5 of 8 experts dead');
    expect(m.collapseReason).toContain('53 % dropped');
    // Each rule on its own also fires: without drops, and with the drops but no dead expert.
    expect(collapsed([0, 0, 0.16, 0, 0, 0.5, 0, 0.34], 2)).toBe(true);
    expect(collapsed([0.13, 0.12, 0.13, 0.12, 0.13, 0.12, 0.13, 0.12], 0.94, 0.53)).toBe(true);
  });

  it('does not fire on a balanced run with entropy 1.38 of ln 4 = 1.386', () => {
    const load = [0.3, 0.25, 0.25, 0.2];
    const H = -load.reduce((a, v) => a + v * Math.log(v), 0);
    expect(H).toBeCloseTo(1.38, 2);
    for (const meanActive of [1, 2]) {
      const m = routingMetrics({ load, dropped: 0.02, meanActive });
      expect(m.collapse).toBe(false);
      expect(m.collapseReason).toBe('');
      expect(m.diversity).toBeCloseTo(Math.exp(H) / 4, 9);
      expect(m.deadFraction).toBe(0);
    }
  });

  it('does not count an always-on shared expert as collapse', () => {
    // Top-1 over 4 routed experts + 1 shared: the shared slot sees every token (half the assignments),
    // the routed ones are balanced. The old alarm fired here (its share × 2 active per token ≥ 0.9).
    const load = [0.125, 0.125, 0.125, 0.125, 0.5];
    expect(collapsed(load, 2, 0, [4])).toBe(false);
    expect(routingMetrics({ load, meanActive: 2, dropped: 0, alwaysOn: [4] }).cv).toBeCloseTo(0, 9);
    // Counted as a routed slot it would look like collapse: the exclusion is what keeps the alarm quiet.
    expect(collapsed(load, 2, 0, [])).toBe(true);
    // A collapse among the routed experts is still caught beside a shared expert.
    expect(collapsed([0.45, 0.05, 0, 0, 0.5], 2, 0, [4])).toBe(true);
  });

  it('the MoE layer reports its shared experts as always on, and a balanced shared block is no collapse', () => {
    const l = layers.layer({ routing: { mode: 'topk', k: 1 }, sharedExperts: 1 }, 6);
    const x = tf.tensor2d(randomRows(64, 6, 5));
    const { report } = l.apply(x, 8, { training: false });
    expect(report.alwaysOn).toEqual([4]);
    const load = Array.from(report.load.dataSync());
    expect(load[4]).toBeCloseTo(0.5, 6);
    const m = routingMetrics({ load, alwaysOn: report.alwaysOn, dropped: report.dropped.dataSync()[0]!, meanActive: report.meanActive.dataSync()[0]! });
    expect(m.collapse).toBe(false);
  });

  it('keeps the earlier max-share cases (top-1 and top-2)', () => {
    expect(collapsed([0.7, 0.1, 0.1, 0.1], 1)).toBe(true);
    expect(collapsed([0.4, 0.2, 0.2, 0.2], 1)).toBe(false);
    // 8 experts, k=2: balanced each slot sees 1/4 of tokens; here slot 0 sees 96 %.
    expect(collapsed([0.48, 0.3, 0.04, 0.04, 0.04, 0.04, 0.03, 0.03], 2)).toBe(true);
    expect(collapsed([0.2, 0.2, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1], 2)).toBe(false);
    // Top-2 of 2 experts: every token uses both by design.
    expect(collapsed([0.5, 0.5], 2)).toBe(false);
  });
});
