import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-node';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadDataset } from '../data/Dataset.js';
import { buildSupernet, recalibrateBatchNorm } from '../nn/Supernet.js';
import { largestArch, sampleArch, smallestArch } from '../space/archCodec.js';
import { listExampleSpaces } from '../space/exampleSpaces.js';
import { createRng } from '../space/rng.js';
import { SearchSpace, type SearchSpaceInput } from '../space/SearchSpace.js';
import { createTestRun } from '../search/createTestRun.js';
import { exportSubnet, exportSubnetFromNet } from './exportSubnet.js';
import { fileModelHandler } from './tfjsExport.js';

const example = (id: string) => SearchSpace.parse(listExampleSpaces().find((e) => e.id === id)!.space);
const tmp = () => mkdtemp(join(tmpdir(), 'sy-export-'));

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('exportSubnetFromNet', () => {
  it('MoE zoo (top-p, shared, segments, null/zero/copy/constant, top-k): tfjs and ONNX equal the supernet path', async () => {
    const space = example('moe-zoo');
    const net = buildSupernet(space, { seed: 3 });
    const rng = createRng(9);
    const x = tf.tensor2d(Float32Array.from({ length: 128 * 2 }, () => rng.normal() * 2), [128, 2]);
    for (const arch of [largestArch(space), smallestArch(space), sampleArch(space, rng)]) {
      const r = await exportSubnetFromNet(net, arch, { formats: ['tfjs', 'onnx', 'arch'], outDir: await tmp(), checkX: x });
      expect(r.diffs.tfjs).toBeLessThan(1e-4);
      expect(r.diffs.onnx).toBeLessThan(1e-4);
      expect(r.files.map((f) => f.slice(r.dir.length + 1)).sort()).toEqual(
        ['MODEL_CARD.md', 'arch.json', 'card.json', 'model.onnx', 'tfjs/model.json', 'tfjs/weights.bin'].sort(),
      );
    }
    x.dispose();
    net.dispose();
  });

  it('Fashion-MNIST conv supernet (BN recalibrated) on real test images', async () => {
    const space = example('fashion-conv-supernet');
    // 320 images: 32 held out for validation, 288 to draw the two 128-image BN batches from.
    const ds = await loadDataset({ kind: 'fashion-mnist', dir: '/usr/share/datasets/fashion-mnist', limit: 320, flatten: false });
    const net = buildSupernet(space, { seed: 1 });
    const arch = sampleArch(space, createRng(4));
    const batches = [0, 1].map((b) => tf.tensor4d(ds.train.x.subarray(b * 128 * 784, (b + 1) * 128 * 784), [128, 28, 28, 1]));
    recalibrateBatchNorm(net, arch, batches);
    tf.dispose(batches);
    const x = tf.tensor4d(ds.test.x.subarray(0, 64 * 784), [64, 28, 28, 1]);
    const dir = await tmp();
    const r = await exportSubnetFromNet(net, arch, { formats: ['tfjs', 'onnx', 'arch'], outDir: dir, checkX: x, runId: 'test-run' });
    expect(r.diffs.tfjs).toBeLessThan(1e-4);
    expect(r.diffs.onnx).toBeLessThan(1e-4);
    // A user's view: plain tf.loadLayersModel on the written files predicts the same classes.
    const model = await tf.loadLayersModel(fileModelHandler(join(dir, 'tfjs', 'model.json')));
    const ref = net.apply(x, arch, { training: false }).logits.argMax(1).arraySync();
    expect((model.predict(x) as tf.Tensor).argMax(1).arraySync()).toEqual(ref);
    const session = await ort.InferenceSession.create(join(dir, 'model.onnx'));
    expect(session.inputNames).toEqual(['input']);
    const card = JSON.parse(await readFile(join(dir, 'card.json'), 'utf8'));
    expect(card.runId).toBe('test-run');
    expect(card.metrics.params).toBe(net.countParams(arch));
    expect(await readFile(join(dir, 'MODEL_CARD.md'), 'utf8')).toContain('Model card');
    x.dispose();
    net.dispose();
  });

  it('dense identity/residual blocks, expert choice (ONNX only) and SMoE-Dropout', async () => {
    const input: SearchSpaceInput = {
      name: 'routing mix',
      input: { kind: 'vector', dim: 5 },
      numClasses: 3,
      stages: [
        { id: 'd', depth: [1, 2], block: { type: 'dense', width: [8, 12], ops: ['dense', 'identity'], residual: true, activation: 'gelu' } },
        { id: 'ec', depth: [1], block: { type: 'moe', experts: 4, expertHidden: [8], routing: { mode: 'expert-choice', capacityFactor: 1.5 }, nullExperts: 1 } },
        { id: 'sd', depth: [1], block: { type: 'moe', experts: 4, expertHidden: [8], routing: { mode: 'smoe-dropout', kStart: 1, kEnd: 2 }, copyExperts: 1 } },
      ],
    };
    const space = SearchSpace.parse(input);
    const net = buildSupernet(space, { seed: 5 });
    const rng = createRng(2);
    const x = tf.tensor2d(Float32Array.from({ length: 48 * 5 }, () => rng.normal()), [48, 5]);
    const arch = { stages: [{ depth: 2, blocks: [{ op: 'dense', width: 12 }, { op: 'dense', width: 12 }] }, { depth: 1, blocks: [{ expertHidden: 8 }] }, { depth: 1, blocks: [{ expertHidden: 8 }] }] };
    const r = await exportSubnetFromNet(net, arch, { formats: ['tfjs', 'onnx'], outDir: await tmp(), checkX: x });
    expect(r.diffs.onnx).toBeLessThan(1e-4);
    expect(r.diffs.tfjs).toBeUndefined();
    expect(r.skipped.tfjs).toMatch(/expert-choice/);
    x.dispose();
    net.dispose();
  });
});

describe('exportSubnet (a run on disk)', () => {
  it('restores the Fashion-MNIST conv run, recalibrates BN, exports and checks on its test images', async () => {
    const runsDir = join(await tmp(), 'runs');
    const space = example('fashion-conv-supernet');
    const runId = await createTestRun(runsDir, { space, data: { kind: 'fashion-mnist', limit: 512 }, backend: 'cpu' });
    const arch = sampleArch(space, createRng(7));
    const r = await exportSubnet({ runId, arch }, { runsDir, evalSamples: 256 });
    expect(r.dir.startsWith(join(runsDir, runId, 'exports'))).toBe(true);
    expect(r.maxAbsDiff).toBeLessThan(1e-4);
    const card = JSON.parse(await readFile(join(r.dir, 'card.json'), 'utf8'));
    // The check batch is the first (up to 64) validation images: 51 here.
    expect(card.check.samples).toBe(51);
    expect(card.metrics.evalSamples).toBe(256);
    // The card reports validation (51 = 10 % of 512 held out of training) and test, each with its
    // sample count and interval; the result carries the same.
    expect(card.accuracy.map((a: { split: string; n: number }) => [a.split, a.n])).toEqual([['val', 51], ['test', 256]]);
    expect(r.accuracy).toEqual(card.accuracy);
    const md = await readFile(join(r.dir, 'MODEL_CARD.md'), 'utf8');
    expect(md).toMatch(/test accuracy \| \d+\.\d % ± \d+\.\d \(test, n=256\)/);
    await expect(exportSubnet({ runId: 'missing', arch }, { runsDir })).rejects.toThrow(/not found/);
    await expect(exportSubnet({ runId, arch: { stages: [] } }, { runsDir })).rejects.toThrow(/arch/);
  });
});

afterAll(() => tf.disposeVariables());
