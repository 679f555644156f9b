/**
 * The MoE semantics of core/nn/moe (AdaMoE renormalisation over computing experts, MoE++ constant-expert
 * mixing and gating residuals across consecutive MoE layers) lowered consistently: the supernet's own
 * forward pass, the graph reference, the tfjs LayersModel and ONNX agree.
 */
import * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-node';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildSupernet, subnetGraph } from '../nn/Supernet.js';
import { largestArch } from '../space/archCodec.js';
import { createRng } from '../space/rng.js';
import { SearchSpace } from '../space/SearchSpace.js';
import { encodeOnnxGraph } from './onnxExport.js';
import { runSubnetGraph } from '../nn/graph/evaluate.js';
import { buildLayersModel, fileModelHandler, saveLayersModel } from './tfjsExport.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const space = (gatingResidual: boolean, routing: Record<string, unknown>) =>
  SearchSpace.parse({
    name: 'moe-semantics',
    input: { kind: 'vector', dim: 6 },
    numClasses: 3,
    stages: [
      { id: 'stem', depth: [1], block: { type: 'dense', width: [8], activation: 'tanh' } },
      {
        id: 'moe',
        depth: [2],
        block: {
          type: 'moe', experts: 3, expertHidden: [8], routing,
          nullExperts: 1, zeroExperts: 1, copyExperts: 1, constantExperts: 2, gatingResidual,
        },
      },
    ],
  });

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

describe('MoE semantics through export', () => {
  it.each([
    ['top-2, renormalised over computing experts', { mode: 'topk', k: 2 }],
    ['top-1, raw gate', { mode: 'topk', k: 1 }],
    ['top-p 0.7, raw gates', { mode: 'topp', p: 0.7 }],
  ])('%s: gating residuals and constant-expert mixing agree on every path', async (_label, routing) => {
    const s = space(true, routing);
    const net = buildSupernet(s, { seed: 3 });
    const arch = largestArch(s);
    // Make the residual and the mixing matter: larger W_g and W_c than their N(0, 0.02²) start.
    const rng = createRng(1);
    for (const l of net.moeLayers()) {
      l.gateMap!.assign(tf.tensor2d(Array.from({ length: l.slots * l.slots }, () => rng.normal() * 2), [l.slots, l.slots]));
      l.constantGate!.assign(tf.tensor2d(Array.from({ length: l.dMax * 4 }, () => rng.normal() * 2), [l.dMax, 4]));
      l.constants!.assign(tf.tensor2d(Array.from({ length: 2 * l.dMax }, () => rng.normal()), [2, l.dMax]));
      l.router.assign(tf.mul(l.router, 4));
    }
    const x = tf.tensor2d(Array.from({ length: 48 * 6 }, () => rng.normal() * 1.5), [48, 6]);
    const apply = net.apply(x, arch, { training: false }).logits.dataSync();
    const graph = subnetGraph(net, arch);
    const ref = runSubnetGraph(graph, x).dataSync();
    expect(maxDiff(ref, apply)).toBeLessThan(1e-5);

    const dir = await mkdtemp(join(tmpdir(), 'sy-moe-sem-'));
    const model = buildLayersModel(graph);
    await saveLayersModel(model, dir);
    model.dispose();
    const loaded = await tf.loadLayersModel(fileModelHandler(join(dir, 'model.json')));
    const tfjsOut = (loaded.predict(x) as tf.Tensor).dataSync();
    loaded.dispose();
    const session = await ort.InferenceSession.create(encodeOnnxGraph(graph));
    const onnxOut = (await session.run({ input: new ort.Tensor('float32', Float32Array.from(x.dataSync()), x.shape) })).logits!.data as Float32Array;
    expect(maxDiff(tfjsOut, apply)).toBeLessThan(1e-4);
    expect(maxDiff(onnxOut, apply)).toBeLessThan(1e-4);

    // The mechanisms matter: without the gating residual the same weights give other logits.
    const noResidual = graph.ops.map((o) => (o.op === 'residual' ? { ...o, body: o.body.map((b) => (b.op === 'moe' ? { ...b, gateResidual: null } : b)) } : o));
    expect(maxDiff(runSubnetGraph({ ...graph, ops: noResidual }, x).dataSync(), apply)).toBeGreaterThan(1e-2);
    net.dispose();
  });
});
