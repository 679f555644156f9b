import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../host/cli.js';
import { selectBackend } from '../nn/backend.js';
import { largestArch } from '../space/archCodec.js';
import { listExampleSpaces } from '../space/exampleSpaces.js';
import { SearchSpace } from '../space/SearchSpace.js';
import { createTestRun } from './createTestRun.js';
import { captureOutput } from '../train/runCliProcess.js';

let runsDir: string;
let runId: string;
const space = SearchSpace.parse(listExampleSpaces().find((e) => e.id === 'spirals-moe')!.space);

beforeAll(async () => {
  await selectBackend('cpu');
  runsDir = join(await mkdtemp(join(tmpdir(), 'sy-cli-')), 'runs');
  runId = await createTestRun(runsDir, { space, data: { kind: 'spirals', classes: 4, samples: 400, noise: 0.2, seed: 1 }, backend: 'cpu' });
});
afterAll(() => tf.disposeVariables());

describe('switchyard search / export', () => {
  it('search prints the front as a table and stores the search', async () => {
    const c = captureOutput();
    const code = await main(['search', runId, '--runs-dir', runsDir, '--backend', 'cpu', '--population', '4', '--generations', '1', '--eval-samples', '64', '--objectives', 'accuracy,params', '--max-params', '20000']);
    c.restore();
    expect(code, c.text()).toBe(0);
    expect(c.text()).toMatch(/Pareto front \(accuracy vs params; params ≤ 20000\)/);
    expect(c.text()).toMatch(/id\s+gen\s+accuracy \(val, n=\d+\)\s+latency ms\s+LUT ms\s+params\s+FLOPs\s+KiB\s+arch/);
    expect(c.text()).toMatch(/\d+\.\d\d% ± \d+\.\d\d/);
    expect(c.text()).toMatch(/evaluated 8\/8/);
    // The search's file, and the run's hypervolume scale fixed by its first search.
    const files = await readdir(join(runsDir, runId, 'searches'));
    expect(files.filter((f) => f !== 'scale.json').length).toBe(1);
    expect(files).toContain('scale.json');
  });

  it('search accepts a run folder and names a bad flag', async () => {
    const c = captureOutput();
    const code = await main(['search', join(runsDir, runId), '--population', 'many']);
    c.restore();
    expect(code).toBe(2);
    expect(c.text()).toMatch(/population/);
  });

  it('export writes tfjs, ONNX, arch.json and a card from a vector, largest, or an arch file', async () => {
    const out = join(runsDir, '..', 'export-a');
    const c = captureOutput();
    const code = await main(['export', runId, 'largest', '--runs-dir', runsDir, '--backend', 'cpu', '--out', out]);
    c.restore();
    expect(code, c.text()).toBe(0);
    expect(c.text()).toMatch(/max \|Δlogit\| vs the supernet path/);
    const files = await readdir(out);
    expect(files.sort()).toEqual(['MODEL_CARD.md', 'arch.json', 'card.json', 'model.onnx', 'tfjs'].sort());
    const card = JSON.parse(await readFile(join(out, 'card.json'), 'utf8'));
    expect(card.runId).toBe(runId);
    expect(card.metrics.accuracy).toBeGreaterThanOrEqual(0);
    expect(card.check.maxAbsDiff.onnx).toBeLessThan(1e-4);
    expect(card.check.maxAbsDiff.tfjs).toBeLessThan(1e-4);

    const archFile = join(runsDir, '..', 'a.json');
    await writeFile(archFile, JSON.stringify({ arch: largestArch(space) }));
    const c2 = captureOutput();
    const code2 = await main(['export', runId, archFile, '--runs-dir', runsDir, '--backend', 'cpu', '--formats', 'onnx', '--out', join(runsDir, '..', 'export-b'), '--json']);
    c2.restore();
    expect(code2, c2.text()).toBe(0);
    const c3 = captureOutput();
    const code3 = await main(['export', runId, '0,0,0,0,0', '--runs-dir', runsDir, '--backend', 'cpu']);
    c3.restore();
    expect(code3).toBe(2);
    expect(c3.text()).toMatch(/arch vector has 5 positions/);
  });
});
