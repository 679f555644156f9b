/**
 * Issue 12 item 5: the transformer blocks (token / patch embedding, layer norm, multi-head self-attention,
 * pre-LN blocks with a dense or MoE FFN) lower to subnet-graph ops; the graph evaluator equals the supernet
 * forward within 1e-5 and the ONNX model (onnxruntime-node) within 1e-4 on the three transformer example
 * spaces, smallest and largest subnets, and the tfjs LayersModel (saved and reloaded) within 1e-4 too. The attention
 * op is checked against a plain-JS computation, and removing the causal mask or a residual changes the output.
 */
import * as tf from '@tensorflow/tfjs';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { countGraphParams, runSubnetGraph, type SubnetGraph, type SubnetOp } from '../nn/graph/evaluate.js';
import { buildSupernet, subnetGraph } from '../nn/Supernet.js';
import { largestArch, smallestArch } from '../space/archCodec.js';
import { listExampleSpaces } from '../space/exampleSpaces.js';
import { createRng } from '../space/rng.js';
import { inputSampleShape, SearchSpace } from '../space/SearchSpace.js';
import { maxDiff } from './exportCheck.js';
import { exportSubnetFromNet } from './exportSubnet.js';
import { encodeOnnxGraph } from './onnxExport.js';
import { exportedLogits } from './exportRoundTrip.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const example = (id: string) => SearchSpace.parse(listExampleSpaces().find((e) => e.id === id)!.space);

/** Token ids in [0, vocab) for a token input, normal features for a sequence input. */
function batch(s: SearchSpace, n: number, seed = 2): tf.Tensor {
  const shape = [n, ...inputSampleShape(s.input)];
  const rng = createRng(seed);
  const size = shape.reduce((a, b) => a * b, 1);
  const input = s.input;
  const values = Array.from({ length: size }, () => (input.kind === 'tokens' ? rng.int(input.vocab) : rng.normal()));
  return tf.tensor(values, shape);
}

async function onnxLogits(graph: SubnetGraph, x: tf.Tensor): Promise<Float32Array> {
  const ort = await import('onnxruntime-node');
  const session = await ort.InferenceSession.create(encodeOnnxGraph(graph));
  const out = await session.run({ input: new ort.Tensor('float32', Float32Array.from(x.dataSync()), x.shape) });
  return Float32Array.from(out.logits!.data as Float32Array);
}

const flatOps = (ops: readonly SubnetOp[]): SubnetOp[] => ops.flatMap((o) => (o.op === 'residual' ? [o, ...flatOps(o.body)] : [o]));

describe('transformer example spaces through the subnet graph and ONNX', () => {
  for (const id of ['char-lm-fortunes', 'sequence-tasks-moe', 'fashion-vit-moe']) {
    for (const [label, pick] of [
      ['largest', largestArch],
      ['smallest', smallestArch],
    ] as const) {
      it(`${id} ${label}: graph within 1e-5, ONNX and tfjs within 1e-4 of the supernet; params agree`, async () => {
        const space = example(id);
        const net = buildSupernet(space, { seed: 3 });
        // Confident routers and non-trivial layer norms, so routing and the LN affine matter.
        for (const l of net.moeLayers()) l.router.assign(tf.mul(l.router, 8));
        for (const [name, v] of net.namedVariables()) if (/\.ln[12]\.(gamma|beta)$/.test(name)) v.assign(tf.add(v, tf.randomNormal(v.shape, 0, 0.3, 'float32', 7)));
        const arch = pick(space);
        const x = batch(space, 3);
        const apply = net.apply(x, arch, { training: false }).logits.dataSync();
        const graph = subnetGraph(net, arch);
        const ops = flatOps(graph.ops).map((o) => o.op);
        expect(ops).toContain('attention');
        expect(ops).toContain('layerNorm');
        expect(ops).toContain('moe');
        expect(ops).toContain(space.input.kind === 'tokens' ? 'tokenEmbedding' : 'patchEmbedding');
        expect(countGraphParams(graph)).toBe(net.countParams(arch));
        const ref = runSubnetGraph(graph, x).dataSync();
        expect(ref.length).toBe(apply.length);
        expect(maxDiff(ref, apply)).toBeLessThan(1e-5);
        const { tfjs, onnx } = await exportedLogits(graph, x);
        expect(maxDiff(onnx, apply)).toBeLessThan(1e-4);
        expect(maxDiff(tfjs, apply)).toBeLessThan(1e-4);
        x.dispose();
        net.dispose();
      });
    }
  }
});

describe('transformer graph ops: mechanisms', () => {
  const tiny = (causal: boolean) =>
    SearchSpace.parse({
      version: 1,
      name: 'tiny lm',
      input: { kind: 'tokens', length: 4, vocab: 5 },
      numClasses: 5,
      stages: [
        { id: 'embed', depth: [1], block: { type: 'tokenEmbedding', width: [6], positions: 4 } },
        { id: 't', depth: [1], block: { type: 'transformer', heads: [2], headDim: 3, mlpRatio: [2], causal } },
      ],
    });

  it('attention equals a plain-JS multi-head attention (causal), and the mask and residuals matter', () => {
    const space = tiny(true);
    const net = buildSupernet(space, { seed: 11 });
    for (const [name, v] of net.namedVariables()) if (/attn\.[qkvo]\.kernel$/.test(name)) v.assign(tf.mul(v, 40)); // sharp attention
    const graph = subnetGraph(net, largestArch(space));
    const attn = flatOps(graph.ops).find((o) => o.op === 'attention') as Extract<SubnetOp, { op: 'attention' }>;
    expect(attn.causal).toBe(true);
    const rng = createRng(5);
    const T = 4;
    const d = 6;
    const xs = Array.from({ length: 2 * T * d }, () => rng.normal());
    const only = { ...graph, ops: [attn] };
    const got = runSubnetGraph(only, tf.tensor3d(xs, [2, T, d])).dataSync();
    // Plain JS: per sequence, per head, softmax over keys ≤ query of q·k/√3, then · v, merged, · O + b.
    const mm = (row: number[], w: { kernel: Float32Array; bias: Float32Array | null; inDim: number; outDim: number }) =>
      Array.from({ length: w.outDim }, (_, j) => row.reduce((s, xi, i) => s + xi * w.kernel[i * w.outDim + j]!, w.bias ? w.bias[j]! : 0));
    const want: number[] = [];
    for (let n = 0; n < 2; n++) {
      const rows = Array.from({ length: T }, (_, t) => xs.slice((n * T + t) * d, (n * T + t + 1) * d));
      const [q, k, v] = [attn.q, attn.k, attn.v].map((w) => rows.map((r) => mm(r, w)));
      for (let t = 0; t < T; t++) {
        const merged: number[] = [];
        for (let h = 0; h < 2; h++) {
          const cols = [0, 1, 2].map((c) => h * 3 + c);
          const s = Array.from({ length: t + 1 }, (_, j) => cols.reduce((a, c) => a + q![t]![c]! * k![j]![c]!, 0) / Math.sqrt(3));
          const m = Math.max(...s);
          const e = s.map((z) => Math.exp(z - m));
          const z = e.reduce((a, b) => a + b, 0);
          for (const c of cols) merged.push(e.reduce((a, p, j) => a + (p / z) * v![j]![c]!, 0));
        }
        want.push(...mm(merged, attn.o));
      }
    }
    expect(maxDiff(got, want)).toBeLessThan(1e-5);
    // Without the mask a query reads later keys: the output changes.
    const unmasked = runSubnetGraph({ ...graph, ops: [{ ...attn, causal: false }] }, tf.tensor3d(xs, [2, T, d])).dataSync();
    expect(maxDiff(unmasked, want)).toBeGreaterThan(1e-3);
    // The lowered block is two residual ops; dropping either one no longer matches the supernet.
    const x = tf.tensor2d([[0, 1, 2, 3], [4, 3, 2, 1]]);
    const apply = net.apply(x, largestArch(space), { training: false }).logits.dataSync();
    expect(maxDiff(runSubnetGraph(graph, x).dataSync(), apply)).toBeLessThan(1e-5);
    const unwrap = (name: string): SubnetGraph => ({ ...graph, ops: graph.ops.flatMap((o) => (o.op === 'residual' && o.name.endsWith(name) ? o.body : [o])) });
    expect(maxDiff(runSubnetGraph(unwrap('attn.residual'), x).dataSync(), apply)).toBeGreaterThan(1e-3);
    expect(maxDiff(runSubnetGraph(unwrap('ffn.residual'), x).dataSync(), apply)).toBeGreaterThan(1e-3);
    net.dispose();
  });

  it('a non-causal block lowers without the mask; the ONNX export matches it', async () => {
    const space = tiny(false);
    const net = buildSupernet(space, { seed: 12 });
    const graph = subnetGraph(net, largestArch(space));
    expect((flatOps(graph.ops).find((o) => o.op === 'attention') as { causal: boolean }).causal).toBe(false);
    const x = tf.tensor2d([[0, 1, 2, 3], [4, 4, 0, 1]]);
    const apply = net.apply(x, largestArch(space), { training: false }).logits.dataSync();
    expect(maxDiff(await onnxLogits(graph, x), apply)).toBeLessThan(1e-4);
    net.dispose();
  });

  it('the export writes both formats and checks them: tfjs (saved, reloaded) and ONNX within 1e-4, nothing skipped', async () => {
    const space = tiny(true);
    const net = buildSupernet(space, { seed: 13 });
    const dir = await mkdtemp(join(tmpdir(), 'sy-transformer-'));
    const x = tf.tensor2d([[0, 1, 2, 3], [4, 3, 2, 1]]);
    const r = await exportSubnetFromNet(net, largestArch(space), { formats: ['tfjs', 'onnx'], outDir: dir, checkX: x });
    expect(r.diffs.onnx).toBeLessThan(1e-4);
    expect(r.diffs.tfjs).toBeLessThan(1e-4);
    expect(r.skipped).toEqual({});
    const card = JSON.parse(await readFile(join(dir, 'card.json'), 'utf8'));
    expect(card.files.some((f: string) => f.endsWith('model.json'))).toBe(true);
    // Without a check batch the export draws token ids below the vocabulary (Gather and one-hot then agree).
    const own = await exportSubnetFromNet(net, largestArch(space), { formats: ['tfjs', 'onnx'], outDir: await mkdtemp(join(tmpdir(), 'sy-transformer-')) });
    expect(own.diffs.onnx).toBeLessThan(1e-4);
    expect(own.diffs.tfjs).toBeLessThan(1e-4);
    net.dispose();
  });
});
