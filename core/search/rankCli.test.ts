import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { main } from '../host/cli.js';
import { selectBackend } from '../nn/backend.js';
import { RankReport } from '../protocol/protocol.js';
import { createTinyDenseRun } from './createTestRun.js';
import { captureOutput } from '../train/runCliProcess.js';

let runsDir: string;
let runId: string;

beforeAll(async () => {
  await selectBackend('cpu');
  ({ runsDir, runId } = await createTinyDenseRun('sy-rankcli-'));
});
afterAll(() => tf.disposeVariables());

describe('switchyard rank', () => {
  it('prints progress, the subnet table and τ / ρ with the noise floor, and stores rank.json', async () => {
    const c = captureOutput();
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
    const c = captureOutput();
    const code = await main(['rank', runId, '--runs-dir', runsDir, '--subnets', '2']);
    c.restore();
    expect(code).toBe(2);
    expect(c.text()).toMatch(/--subnets|subnets/);
  });
});
