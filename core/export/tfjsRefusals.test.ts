/**
 * Issue 13: where the tfjs writer refuses a router (similarity-aware routing, ProMoE, expert choice and its
 * capped variant), the export still writes ONNX, and the model card — card.json's `skipped` and
 * MODEL_CARD.md — names the layer and the reason.
 */
import * as tf from '@tensorflow/tfjs';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildSupernet } from '../nn/Supernet.js';
import { largestArch } from '../space/archCodec.js';
import { createRng } from '../space/rng.js';
import { SearchSpace } from '../space/SearchSpace.js';
import type { RoutingInput } from '../space/routing/registry.js';
import { exportSubnetFromNet } from './exportSubnet.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const cases: [string, RoutingInput, RegExp][] = [
  ['similarity-aware routing', { mode: 'similarity' }, /similarity-aware routing mixes the router distribution over the rows of the batch/],
  ['ProMoE', { mode: 'prototype' }, /ProMoE prototypical routing reads the L2-normalised input/],
  ['expert choice', { mode: 'expert-choice', capacityFactor: 1 }, /expert-choice routing picks tokens across the batch/],
  ['capped expert choice', { mode: 'expert-choice', capacityFactor: 1, maxExpertsPerToken: 2 }, /expert-choice routing picks tokens across the batch/],
];

describe('model card: why tfjs refused a router', () => {
  it.each(cases)('%s: ONNX written and checked, tfjs skipped with the reason in card.json and MODEL_CARD.md', async (_label, routing, reason) => {
    const space = SearchSpace.parse({
      name: 'refusal',
      input: { kind: 'vector', dim: 4 },
      numClasses: 3,
      stages: [{ id: 'moe', depth: [1], block: { type: 'moe', experts: 4, expertHidden: [8], routing } }],
    });
    const net = buildSupernet(space, { seed: 1 });
    const rng = createRng(3);
    const x = tf.tensor2d(Float32Array.from({ length: 16 * 4 }, () => rng.normal()), [16, 4]);
    const dir = await mkdtemp(join(tmpdir(), 'sy-refusal-'));
    const r = await exportSubnetFromNet(net, largestArch(space), { formats: ['tfjs', 'onnx'], outDir: dir, checkX: x });
    expect(r.diffs.onnx).toBeLessThan(1e-4);
    expect(r.diffs.tfjs).toBeUndefined();
    const card = JSON.parse(await readFile(join(dir, 'card.json'), 'utf8'));
    expect(card.skipped.tfjs).toMatch(reason);
    expect(card.skipped.tfjs).toMatch(/^moe\.b0/);
    expect(card.files).not.toContain('model.json');
    const md = await readFile(join(dir, 'MODEL_CARD.md'), 'utf8');
    expect(md).toMatch(new RegExp(`tfjs: not exported — .*${reason.source}`));
    x.dispose();
    net.dispose();
  });
});
