import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../host/cli.js';
import { selectBackend } from '../nn/backend.js';
import { RankReport } from '../protocol/protocol.js';
import { SearchSpace } from '../space/SearchSpace.js';
import { createTestRun } from './createTestRun.js';

let runsDir: string;
let runId: string;

beforeAll(async () => {
  await selectBackend('cpu');
  runsDir = join(await mkdtemp(join(tmpdir(), 'sy-rankcli-')), 'runs');
  const space = SearchSpace.parse({
    version: 1,
    name: 'tiny dense',
    input: { kind: 'vector', dim: 2 },
    numClasses: 3,
    stages: [{ id: 's1', depth: [1, 2], block: { type: 'dense', width: [4, 8], activation: 'relu' } }],
  });
  runId = await createTestRun(runsDir, { space, data: { kind: 'spirals', classes: 3, samples: 300, noise: 0.2, seed: 1 }, backend: 'cpu' });
});
afterAll(() => tf.disposeVariables());

function capture() {
  const lines: string[] = [];
  const log = vi.spyOn(console, 'log').mockImplementation((...a) => void lines.push(a.join(' ')));
  const err = vi.spyOn(console, 'error').mockImplementation((...a) => void lines.push(a.join(' ')));
  const write = vi.spyOn(process.stderr, 'write').mockImplementation((s) => (lines.push(String(s)), true));
  return { text: () => lines.join('\n'), restore: () => (log.mockRestore(), err.mockRestore(), write.mockRestore()) };
}

describe('switchyard rank', () => {
  it('prints progress, the subnet table and τ / ρ with the noise floor, and stores rank.json', async () => {
    const c = capture();
    const code = await main(['rank', runId, '--runs-dir', runsDir, '--backend', 'cpu', '--subnets', '3', '--steps', '3', '--seeds', '2']);
    c.restore();
    expect(code, c.text()).toBe(0);
    const report = RankReport.parse(JSON.parse(await readFile(join(runsDir, runId, 'rank.json'), 'utf8')));
    expect(c.text()).toMatch(/trained 6\/6/);
    expect(c.text()).toMatch(/params\s+FLOPs\s+inherited \(val, n=\d+\)\s+seed 2\s+seed 3\s+standalone mean\s+arch/);
    const fig = (v: number | null) => (v === null ? 'n/a' : v.toFixed(3));
    expect(c.text()).toContain(`Kendall τ-b ${fig(report.kendallTau)}, Spearman ρ ${fig(report.spearmanRho)}`);
    expect(c.text()).toContain(`noise floor (τ-b between seeds' standalone accuracies): ${fig(report.seedTau)}`);
  });

  it('names a bad flag', async () => {
    const c = capture();
    const code = await main(['rank', runId, '--runs-dir', runsDir, '--subnets', '2']);
    c.restore();
    expect(code).toBe(2);
    expect(c.text()).toMatch(/--subnets|subnets/);
  });
});
