import { describe, expect, it } from 'vitest';
import { nearestPoint, visiblePoints, xDomain, yScale } from './chartMath.js';
import { csvField, fileSlug, matrixCsv, seriesCsv, toCsv } from './download.js';

describe('line chart math', () => {
  it('gives a single point a unit x span, so ticks are not printed to 17 digits', () => {
    expect(xDomain([]))
      .toEqual([0, 1]);
    expect(xDomain([40])).toEqual([39.5, 40.5]);
    expect(xDomain([1, 5, 3])).toEqual([1, 5]);
  });

  it('uses a log y scale only over positive values, falling back to linear', () => {
    const log = yScale([0.01, 1, 10], [100, 0], { log: true });
    expect(log.log).toBe(true);
    // equal ratios take equal heights on a log axis
    expect(log.scale(0.1) - log.scale(1)).toBeCloseTo(log.scale(1) - log.scale(10), 6);
    expect(yScale([-1, 0], [100, 0], { log: true }).log).toBe(false);
    const lin = yScale([0, 1], [100, 0], { domain: [0, 1] });
    expect(lin.scale(0.5)).toBeCloseTo(50);
  });

  it('finds the point nearest the cursor and the points inside a zoomed range', () => {
    const pts: [number, number][] = [[0, 1], [10, 2], [20, 3], [30, 4]];
    expect(nearestPoint(pts, 14)).toEqual([10, 2]);
    expect(nearestPoint(pts, 16)).toEqual([20, 3]);
    expect(nearestPoint(pts, 99)).toEqual([30, 4]);
    expect(nearestPoint([], 1)).toBeNull();
    expect(visiblePoints(pts, 12, 18)).toEqual([[10, 2], [20, 3]]);
    expect(visiblePoints(pts, 0, 30)).toEqual(pts);
  });
});

describe('downloads', () => {
  it('writes RFC 4180 CSV, quoting what needs it', () => {
    expect(csvField('a,b')).toBe('"a,b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField(NaN)).toBe('');
    expect(toCsv(['x', 'y'], [[1, 'a\nb']])).toBe('x,y\n1,"a\nb"\n');
  });

  it('joins series on x with gaps where a series has no point', () => {
    const csv = seriesCsv('step', [
      { label: 'train', points: [[1, 0.5], [2, 0.4]] },
      { label: 'validation', points: [[2, 0.45]] },
    ]);
    expect(csv).toBe('step,train,validation\n1,0.5,\n2,0.4,0.45\n');
    expect(fileSlug('Router entropy (nats)')).toBe('router-entropy-nats');
    expect(matrixCsv('', ['class 0', 'class 1'], ['e0', 'e1'], [[1, 0], [0.25, 0.75]])).toBe(',e0,e1\nclass 0,1,0\nclass 1,0.25,0.75\n');
  });
});
