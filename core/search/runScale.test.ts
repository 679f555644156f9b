import { mkdtemp, readFile, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { hypervolume, normaliseForHypervolume } from './hypervolume.js';
import { fixRunScale, readRunScale, runScalePath } from './runScale.js';

const where = { backend: 'cpu', device: 'test', now: () => new Date('2026-01-01T00:00:00Z') };

describe('run hypervolume scale', () => {
  it('is fixed by the first search of a run: later searches get the same divisors whatever they time', async () => {
    const runDir = await mkdtemp(join(tmpdir(), 'sy-scale-'));
    expect(await readRunScale(runDir)).toBeNull();
    // The largest subnet's latency times 0.41 ms in the first search and 0.62 ms in the second.
    const timings = [0.41, 0.62];
    const measured: string[] = [];
    const measure = (o: string) => {
      measured.push(o);
      return o === 'latency' ? timings.shift()! : 24000;
    };
    const a = await fixRunScale(runDir, ['accuracy', 'latency'], measure, where);
    const b = await fixRunScale(runDir, ['accuracy', 'latency', 'params'], measure, where);
    expect(a.scales.latency).toBe(0.41);
    expect(b.scales).toEqual({ latency: 0.41, params: 24000 });
    expect(measured).toEqual(['latency', 'params']); // latency measured once; params added when first asked for
    expect(b.ref).toEqual({ accuracy: 1, latency: 1.1, params: 1.1 });
    expect(b.measuredOn.latency).toEqual({ backend: 'cpu', device: 'test', at: '2026-01-01T00:00:00.000Z' });
    expect(await readRunScale(runDir)).toEqual(b);

    // The same front therefore scores the same in both searches; with per-search scales it would not.
    const front = [[0.86, 0.3], [0.84, 0.2], [0.8, 0.1]];
    const hv = (scale: number) => {
      const { points, ref } = normaliseForHypervolume(['accuracy', 'latency'], front, [1, scale]);
      return hypervolume(points, ref);
    };
    expect(hv(a.scales.latency!)).toBe(hv(b.scales.latency!));
    expect(Math.abs(hv(0.41) - hv(0.62))).toBeGreaterThan(0.02);
  });

  it('names the file when it is damaged', async () => {
    const runDir = await mkdtemp(join(tmpdir(), 'sy-scale-'));
    await mkdir(join(runDir, 'searches'));
    await writeFile(runScalePath(runDir), JSON.stringify({ version: 1, scales: { latency: -1 }, ref: {}, measuredOn: {} }));
    await expect(readRunScale(runDir)).rejects.toThrow(/scale\.json: scales\.latency/);
    await writeFile(runScalePath(runDir), '{');
    await expect(fixRunScale(runDir, ['latency'], () => 1, where)).rejects.toThrow(/scale\.json: not valid JSON/);
    expect(await readFile(runScalePath(runDir), 'utf8')).toBe('{');
  });
});
