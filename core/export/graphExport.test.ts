import { describe, expect, it, beforeAll } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-node';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRng } from '../space/rng.js';
import type { Activation } from '../space/SearchSpace.js';
import { runSubnetGraph, type DenseWeights, type Ffn, type Gating, type MoEOp, type SubnetGraph } from '../nn/graph/evaluate.js';
import { buildLayersModel, fileModelHandler, saveLayersModel } from './tfjsExport.js';
import { encodeOnnxGraph } from './onnxExport.js';
import { decodeOnnxModel } from './onnxProto.js';

const rng = createRng(42);
const randn = (n: number, scale = 0.5) => Float32Array.from({ length: n }, () => rng.normal() * scale);
const denseW = (i: number, o: number, bias = true): DenseWeights => ({ kernel: randn(i * o, 1 / Math.sqrt(i)), bias: bias ? randn(o, 0.1) : null, inDim: i, outDim: o });
const ffnW = (d: number, h: number, activation: Activation = 'gelu'): Ffn => ({ up: denseW(d, h), down: denseW(h, d), activation });

function moeOp(name: string, d: number, gating: Gating, normalize: boolean): MoEOp {
  return {
    op: 'moe',
    name,
    dim: d,
    // A large router scale makes the routing decisive so a wrong mask would show in the outputs.
    router: { ...denseW(d, 7), kernel: randn(d * 7, 2) },
    slots: [
      { kind: 'expert', name: 'e0', ffn: ffnW(d, 12) },
      { kind: 'expert', name: 'e1', ffn: ffnW(d, 12, 'relu') },
      { kind: 'expert', name: 'e2', ffn: ffnW(d, 12) },
      { kind: 'expert', name: 'e3', ffn: ffnW(d, 12) },
      { kind: 'null', name: 'null0' },
      { kind: 'copy', name: 'copy0' },
      { kind: 'constant', name: 'const0', value: randn(d) },
    ],
    shared: [ffnW(d, 8)],
    gating,
    normalize,
  };
}

function vectorGraph(gating: Gating, normalize: boolean): SubnetGraph {
  return {
    input: { kind: 'vector', dim: 6 },
    numClasses: 4,
    ops: [
      { op: 'dense', name: 's0.b0', weights: denseW(6, 10) },
      { op: 'activation', name: 's0.b0.act', fn: 'tanh' },
      { op: 'residual', name: 's1.b0', body: [moeOp('s1.b0', 10, gating, normalize)] },
      { op: 'residual', name: 's1.b1', body: [moeOp('s1.b1', 10, gating, normalize)] },
      { op: 'dense', name: 'head', weights: denseW(10, 4) },
    ],
  };
}

function imageGraph(): SubnetGraph {
  const conv = (name: string, k: number, ci: number, co: number, stride: 1 | 2) => ({
    op: 'conv2d' as const, name, kernel: randn(k * k * ci * co, 1 / Math.sqrt(k * k * ci)), kernelSize: k, inChannels: ci, outChannels: co, stride, bias: null,
  });
  const bn = (name: string, c: number) => ({
    op: 'batchNorm' as const, name, channels: c, gamma: Float32Array.from(randn(c, 0.1), (v) => 1 + v), beta: randn(c, 0.1),
    mean: randn(c, 0.1), variance: Float32Array.from(randn(c, 0.1), (v) => 1 + Math.abs(v)), epsilon: 1e-3,
  });
  return {
    input: { kind: 'image', height: 9, width: 9, channels: 2 },
    numClasses: 5,
    ops: [
      conv('c0', 3, 2, 4, 2),
      bn('c0.bn', 4),
      { op: 'activation', name: 'c0.act', fn: 'relu' },
      conv('c1', 5, 4, 6, 1),
      bn('c1.bn', 6),
      { op: 'activation', name: 'c1.act', fn: 'gelu' },
      { op: 'globalAvgPool', name: 'gap' },
      { op: 'residual', name: 'm', body: [moeOp('m', 6, { mode: 'topk', k: 2 }, true)] },
      { op: 'dense', name: 'head', weights: denseW(6, 5) },
    ],
  };
}

function flattenGraph(): SubnetGraph {
  return {
    input: { kind: 'image', height: 3, width: 4, channels: 2 },
    numClasses: 3,
    ops: [
      { op: 'flatten', name: '_flat' }, // stage ids may start with _
      { op: 'dense', name: '_d', weights: denseW(24, 3) },
    ],
  };
}

async function roundTrip(graph: SubnetGraph, x: tf.Tensor) {
  const dir = await mkdtemp(join(tmpdir(), 'sy-export-'));
  const model = buildLayersModel(graph);
  await saveLayersModel(model, dir);
  model.dispose();
  const loaded = await tf.loadLayersModel(fileModelHandler(join(dir, 'model.json')));
  const tfjsOut = (loaded.predict(x) as tf.Tensor).arraySync() as number[][];
  loaded.dispose();
  const bytes = encodeOnnxGraph(graph);
  const session = await ort.InferenceSession.create(bytes);
  const feeds = { input: new ort.Tensor('float32', Float32Array.from(x.dataSync()), x.shape) };
  const onnxOut = Array.from((await session.run(feeds)).logits!.data as Float32Array);
  const ref = runSubnetGraph(graph, x);
  const refFlat = Array.from(ref.dataSync());
  ref.dispose();
  const maxDiff = (a: number[]) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - refFlat[i]!)), 0);
  return { tfjs: maxDiff(tfjsOut.flat()), onnx: maxDiff(onnxOut), ref: refFlat };
}

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('subnet graph export', () => {
  const xVec = () => tf.tensor2d(randn(64 * 6, 1.5), [64, 6]);
  it.each([
    ['top-2, renormalised', { mode: 'topk', k: 2 } as Gating, true],
    ['top-1, raw probability', { mode: 'topk', k: 1 } as Gating, false],
    ['top-p 0.6, at most 3', { mode: 'topp', p: 0.6, maxK: 3 } as Gating, true],
    ['top-p 0.8, no cap', { mode: 'topp', p: 0.8, maxK: 7 } as Gating, false],
  ])('MoE %s: tfjs and ONNX equal the reference', async (_label, gating, normalize) => {
    const r = await roundTrip(vectorGraph(gating, normalize), xVec());
    expect(r.tfjs).toBeLessThan(1e-4);
    expect(r.onnx).toBeLessThan(1e-4);
    expect(r.ref.some((v) => Math.abs(v) > 0.1)).toBe(true);
  });

  it('breaks exact ties in router probabilities towards the lower slot, like tf.topk and ONNX TopK', async () => {
    // A zero router kernel makes every slot equally probable: top-2 must pick slots 0 and 1 (experts
    // e0, e1), top-p 0.3 of 7 equal slots (1/7 each) must pick slots 0–2.
    for (const gating of [{ mode: 'topk', k: 2 }, { mode: 'topp', p: 0.3, maxK: 7 }] as Gating[]) {
      const m = moeOp('tie', 6, gating, true);
      m.router = { kernel: new Float32Array(6 * 7), bias: null, inDim: 6, outDim: 7 };
      const graph: SubnetGraph = { input: { kind: 'vector', dim: 6 }, numClasses: 6, ops: [m] };
      const r = await roundTrip(graph, xVec().slice([0, 0], [16, 6]));
      expect(r.tfjs).toBeLessThan(1e-5);
      expect(r.onnx).toBeLessThan(1e-5);
    }
  });

  it('expert-choice routing: ONNX equals the reference over the batch; tfjs refuses it', async () => {
    const graph = vectorGraph({ mode: 'expert-choice', capacityFactor: 1.5 }, false);
    const x = xVec();
    const ref = runSubnetGraph(graph, x);
    const session = await ort.InferenceSession.create(encodeOnnxGraph(graph));
    const out = (await session.run({ input: new ort.Tensor('float32', Float32Array.from(x.dataSync()), x.shape) })).logits!.data as Float32Array;
    const r = ref.dataSync();
    expect(out.reduce((m, v, i) => Math.max(m, Math.abs(v - r[i]!)), 0)).toBeLessThan(1e-4);
    ref.dispose();
    expect(() => buildLayersModel(graph)).toThrow(/expert-choice/);
  });

  it('conv + BN + GAP + MoE on images, and plain flatten, equal the reference', async () => {
    const r = await roundTrip(imageGraph(), tf.tensor4d(randn(8 * 9 * 9 * 2, 1), [8, 9, 9, 2]));
    expect(r.tfjs).toBeLessThan(1e-4);
    expect(r.onnx).toBeLessThan(1e-4);
    const f = await roundTrip(flattenGraph(), tf.tensor4d(randn(5 * 24, 1), [5, 3, 4, 2]));
    expect(f.tfjs).toBeLessThan(1e-5);
    expect(f.onnx).toBeLessThan(1e-5);
  });

  it('writes an ONNX ModelProto that declares opset 17 and only standard ops', () => {
    const m = decodeOnnxModel(encodeOnnxGraph(vectorGraph({ mode: 'topk', k: 2 }, true))) as {
      opset_import: { version: number }[];
      graph: { node: { op_type: string }[] };
    };
    expect(m.opset_import[0]!.version).toBe(17);
    const ops = new Set(m.graph.node.map((n) => n.op_type));
    expect(ops.has('TopK')).toBe(true);
    expect(ops.has('Erf')).toBe(true);
  });

  it('the tfjs model.json holds only built-in layer classes', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sy-export-'));
    const model = buildLayersModel(vectorGraph({ mode: 'topp', p: 0.6, maxK: 3 }, true));
    await saveLayersModel(model, dir);
    model.dispose();
    const json = JSON.parse(await readFile(join(dir, 'model.json'), 'utf8'));
    const classes = new Set<string>(json.modelTopology.config.layers.map((l: { class_name: string }) => l.class_name));
    for (const c of classes) expect(['InputLayer', 'Dense', 'Activation', 'Add', 'Multiply', 'Softmax', 'ReLU', 'Minimum']).toContain(c);
  });
});
