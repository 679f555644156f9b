import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDataset } from '../data/Dataset.js';
import { largestArch } from '../space/archCodec.js';
import { evaluateArch } from './evaluate.js';
import { restoreSupernet } from './restoreSupernet.js';
import { RunStore } from './RunStore.js';
import { VALIDATION_SAMPLES } from './Trainer.js';
import { runCliProcess } from './runCliProcess.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sy-cli-fm-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const cli = runCliProcess;

describe('switchyard train on Fashion-MNIST', () => {
  // A small elastic MLP supernet (widths 32/64, depth 1–2, dense/identity), sandwich rule, 150 steps of 32
  // images from the first 8000 training images. Measured on 2 busy CPU cores: 78.55% test accuracy (the cpu backend is deterministic)
  // (10,000 test images) in 26 s of training, ~35 s with start-up; 74% leaves room for run-to-run noise.
  it('trains a Fashion-MNIST MLP supernet from the CLI on CPU to ≥ 74% test accuracy (measured 78.55%)', async () => {
    const runs = join(dir, 'runs');
    const spaceFile = join(dir, 'fashion-small.json');
    await writeFile(spaceFile, JSON.stringify(FASHION_SMALL));
    const r = await cli([
      'train', spaceFile,
      '--data', 'fashion-mnist', '--limit', '8000', '--steps', '150', '--batch', '32', '--lr', '0.005',
      '--strategy', 'sandwich', '--backend', 'cpu', '--eval-every', '75', '--runs-dir', runs, '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
    expect(out).toMatchObject({ status: 'completed', step: 150, backend: 'cpu' });
    expect(out.testAccuracy).toBeGreaterThanOrEqual(0.74);
    // Validation (selection) and test (final report) are separate splits, each with its interval.
    // --limit 8000 keeps 7200 for training and holds out 800 (10 %) for validation.
    expect(out.validation).toMatchObject({ split: 'val', n: 800 });
    expect(out.test).toMatchObject({ split: 'test', n: 10000, accuracy: out.testAccuracy });
    expect(out.test.ci95[0]).toBeLessThan(out.testAccuracy);
    expect(out.test.ci95[1]).toBeGreaterThan(out.testAccuracy);
    const store = new RunStore(runs);
    const [summary] = await store.list();
    expect(summary!.id).toBe(out.runId);
    expect(summary!.status).toBe('completed');
    expect(summary!.test).toEqual(out.test);
    expect(summary!.finalVal).toEqual(out.validation);
    const metrics = await store.readMetrics(out.runId);
    expect(metrics.map((p) => p.step)).toEqual(Array.from({ length: 150 }, (_, i) => i + 1));
    expect((await store.loadLatestCheckpoint(out.runId))!.meta.step).toBe(150);
    // search/export's entry point rebuilds the same network: its validation (the first 1000 images of
    // the validation split, held out of the 8000 training images) matches the one the run logged
    await tf.setBackend('cpu');
    const { net, record, step } = await restoreSupernet(out.runDir);
    expect(step).toBe(150);
    const ds = await loadDataset(record.config.data, { input: record.config.space.input });
    const evaluation = await evaluateArch(net, largestArch(record.config.space), ds.val, { inputShape: ds.inputShape, limit: VALIDATION_SAMPLES });
    expect(evaluation.accuracy).toBe(metrics.at(-1)!.valAccuracy);
    expect(evaluation.loss).toBeCloseTo(metrics.at(-1)!.valLoss!, 5);
    net.dispose();
  });

});

const FASHION_SMALL = {
  name: 'Fashion-MNIST small MLP supernet',
  input: { kind: 'vector', dim: 784 },
  numClasses: 10,
  stages: [
    { id: 's1', depth: [1], block: { type: 'dense', width: [32, 64] } },
    { id: 's2', depth: [1, 2], block: { type: 'dense', width: [32, 64], ops: ['dense', 'identity'], residual: true } },
  ],
};
