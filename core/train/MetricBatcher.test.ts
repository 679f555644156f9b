import { describe, expect, it } from 'vitest';
import { MetricBatcher } from './MetricBatcher.js';

describe('MetricBatcher', () => {
  it('releases batches no more often than the interval (fake clock)', () => {
    let t = 0;
    const batches: number[][] = [];
    const b = new MetricBatcher<number>((xs) => batches.push(xs), () => t, 125);
    // 1 point every 10 ms for 1 s: 100 points → 8 batches (8 Hz), none lost.
    let released = 0;
    for (let i = 0; i < 100; i++) {
      t += 10;
      if (b.push(i)) released++;
    }
    b.flush();
    expect(released).toBe(7);
    expect(batches.length).toBe(8);
    expect(batches.flat()).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(batches[0]).toEqual([...Array(13).keys()]);
    // a slow trainer (one point per 300 ms) releases every point at once
    const slow: number[][] = [];
    const s = new MetricBatcher<number>((xs) => slow.push(xs), () => t, 125);
    for (let i = 0; i < 3; i++) {
      t += 300;
      s.push(i);
    }
    expect(slow).toEqual([[0], [1], [2]]);
  });

  it('flush with nothing queued emits nothing', () => {
    const out: number[][] = [];
    const b = new MetricBatcher<number>((xs) => out.push(xs), () => 0);
    b.flush();
    expect(out).toEqual([]);
    expect(b.pending).toBe(0);
  });
});
