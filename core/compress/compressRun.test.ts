import * as tf from '@tensorflow/tfjs';
import { existsSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../nn/backend.js';
import { COMPRESS_METHOD_NAMES } from '../protocol/compressMethodNames.js';
import { createTestRun } from '../search/createTestRun.js';
import { largestArch } from '../space/archCodec.js';
import { listExampleSpaces } from '../space/exampleSpaces.js';
import { SearchSpace } from '../space/SearchSpace.js';
import { EXPORT_TOLERANCE } from '../export/exportSubnet.js';
import { compressRun, listCompressResults } from './compressRun.js';
import { formatCompressTable, parseLevels } from './compressCli.js';

let runsDir: string;
let runId: string;
const space = SearchSpace.parse(listExampleSpaces().find((e) => e.id === 'spirals-moe')!.space);

beforeAll(async () => {
  await selectBackend('cpu');
  runsDir = join(await mkdtemp(join(tmpdir(), 'sy-compress-')), 'runs');
  runId = await createTestRun(runsDir, { space, data: { kind: 'spirals', classes: 4, samples: 800, noise: 0.2, seed: 1 }, backend: 'cpu' });
});
afterAll(() => tf.disposeVariables());

describe('compress.run', () => {
  it('scores, sizes and exports every method on a run, and lists the stored result', async () => {
    const r = await compressRun(
      { runId, arch: largestArch(space), levels: [{ keep: 0.5, bits: 4, rank: 0.5, sparsity: 0.3 }], calibSamples: 40, evalSamples: 100, name: 'one' },
      { runsDir, measureLatency: false },
    );
    expect(r.points.map((p) => p.method)).toEqual([null, ...COMPRESS_METHOD_NAMES]);
    const base = r.points[0]!;
    for (const p of r.points) {
      // Validation after the 40 calibration samples (of the split's 64), then test.
      expect(p.accuracy.map((a) => [a.split, a.n])).toEqual([['val', 24], ['test', 100]]);
      expect(p.onnx!.maxAbsDiff).toBeLessThanOrEqual(EXPORT_TOLERANCE);
      expect(existsSync(p.onnx!.file)).toBe(true);
      // An export like any subnet's: <run>/exports/<plain name>/ with its card.
      expect(p.onnx!.file).toMatch(/[\\/]exports[\\/]compress-one-[\w.-]+[\\/]model\.onnx$/);
      expect(existsSync(p.onnx!.file.replace(/model\.onnx$/, 'card.json'))).toBe(true);
      if (p.method) expect(p.bits).toBeLessThan(base.bits);
    }
    expect(r.calibration).toEqual({ split: 'val', n: 40 });
    const warnings: string[] = [];
    const listed = await listCompressResults(runsDir, runId, (w) => warnings.push(w));
    expect(warnings).toEqual([]);
    expect(listed[0]!.points).toHaveLength(r.points.length);
    expect(formatCompressTable(r).split('\n')).toHaveLength(2 + r.points.length);
  });

  it('names the bad field', async () => {
    await expect(compressRun({ runId, arch: largestArch(space), calibSamples: 5000 }, { runsDir })).rejects.toThrow(/calibSamples/);
    await expect(compressRun({ runId: '../x', arch: largestArch(space) }, { runsDir })).rejects.toThrow();
    expect(() => parseLevels('keep=0.5;bits=x')).toThrow(/--levels\[1\]/);
    expect(() => parseLevels('bits=9')).toThrow(/bits/);
    expect(parseLevels('keep=0.5;keep=0.25,rank=0.5')).toEqual([{ keep: 0.5 }, { keep: 0.25, rank: 0.5 }]);
  });
});

describe('compress.run in a child process', () => {
  it('runs the CLI with the request as flags and returns its validated result', async () => {
    const { compressInChild } = await import('./compressChild.js');
    const r = await compressInChild(
      { runId, arch: largestArch(space), methods: ['stun'], levels: [{ keep: 0.5, sparsity: 0.25 }], calibSamples: 40, evalSamples: 50, test: false, onnx: false, name: 'child' },
      { runsDir, backend: 'cpu' },
    );
    expect(r.points.map((p) => [p.method, p.level])).toEqual([[null, {}], ['stun', { keep: 0.5, sparsity: 0.25 }]]);
    expect(r.points[1]!.accuracy.map((a) => a.split)).toEqual(['val']);
    await expect(compressInChild({ runId, arch: largestArch(space), calibSamples: 5000 }, { runsDir, backend: 'cpu' })).rejects.toThrow(/calibSamples/);
  });
});
