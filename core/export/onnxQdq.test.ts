import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { buildOnnxModel, encodeOnnxGraph } from './onnxExport.js';
import { decodeOnnxModel } from './onnxProto.js';
import { runSubnetGraph } from '../nn/graph/evaluate.js';
import { compressGraph } from '../compress/compressGraph.js';
import { encodeQuantizedOnnx, buildQuantizedOnnxModel } from './onnxQdq.js';
import { compressionMethods } from '../compress/registry.js';
import { randomRows } from '../compress/testExperts.js';
import { tinyMoEGraph } from '../compress/testGraph.js';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildSupernet } from '../nn/Supernet.js';
import { SearchSpace, type Arch } from '../space/SearchSpace.js';
import { exportSubnetFromNet } from './exportSubnet.js';

await tf.setBackend('cpu');

describe('ONNX with QuantizeLinear/DequantizeLinear for quantised experts', () => {
  it('stores int8 codes behind DequantizeLinear and computes what the graph evaluator computes in onnxruntime-node', async () => {
    const x = tf.tensor2d(randomRows(32, 6, 9), [32, 6]);
    const { graph } = await compressGraph(tinyMoEGraph(), compressionMethods.eaquant, { bits: 4 }, x);
    const { model, dequantized } = buildQuantizedOnnxModel(graph);
    // 4 experts × (up, down) + the router.
    expect(dequantized).toBe(9);
    expect(model.graph.node.filter((n) => n.op_type === 'DequantizeLinear')).toHaveLength(9);
    expect(model.graph.initializer.filter((t) => t.data_type === 3)).toHaveLength(9);
    const bytes = encodeQuantizedOnnx(graph);
    // 416 float kernel weights (1664 bytes) become 416 int8 codes + 60 float32 steps (656 bytes) of initializers.
    const initBytes = (m: typeof model) => m.graph.initializer.reduce((a, t) => a + (t.raw_data?.length ?? 0), 0);
    expect(initBytes(buildOnnxModel(graph)) - initBytes(model)).toBe(1664 - 656);
    expect(decodeOnnxModel(bytes)).toBeTruthy();
    const ort = await import('onnxruntime-node');
    // 'basic': onnxruntime's extended fusions turn DequantizeLinear → MatMul into a dynamically quantised int8 GEMM (see compressRun.ts).
    const session = await ort.InferenceSession.create(bytes, { graphOptimizationLevel: 'basic' });
    const out = (await session.run({ input: new ort.Tensor('float32', Float32Array.from(await x.data()), [32, 6]) })).logits!.data as Float32Array;
    await session.release();
    const ref = await runSubnetGraph(graph, x).data();
    let m = 0;
    for (let i = 0; i < out.length; i++) m = Math.max(m, Math.abs(out[i]! - ref[i]!));
    expect(m).toBeLessThan(1e-5);
  });

  it('leaves a float graph as the plain writer wrote it', () => {
    const g = tinyMoEGraph();
    expect(buildQuantizedOnnxModel(g).dequantized).toBe(0);
    expect(encodeQuantizedOnnx(g)).toEqual(encodeOnnxGraph(g));
  });

  it("exports a subnet's bits choice as Q/DQ: int8 codes for the quantised kernels, within tolerance of the supernet path", async () => {
    const space = SearchSpace.parse({
      name: 'bits export',
      input: { kind: 'vector', dim: 6 },
      numClasses: 3,
      stages: [
        { id: 'stem', depth: [1], block: { type: 'dense', width: [8], bits: [4, 32] } },
        { id: 'moe', depth: [1], block: { type: 'moe', experts: 3, expertHidden: [8], routing: { mode: 'topk', k: 2 }, bits: [2, 32] } },
      ],
    });
    const net = buildSupernet(space, { seed: 2 });
    const arch = (b1: number, b2: number): Arch => ({ stages: [{ depth: 1, blocks: [{ op: 'dense', width: 8, bits: b1 }] }, { depth: 1, blocks: [{ expertHidden: 8, bits: b2 }] }] });
    const x = tf.tensor2d(randomRows(16, 6, 4), [16, 6]);
    const dqNodes = async (a: Arch) => {
      const r = await exportSubnetFromNet(net, a, { formats: ['onnx'], outDir: await mkdtemp(join(tmpdir(), 'sy-qdq-')), checkX: x });
      expect(r.maxAbsDiff).toBeLessThan(1e-5);
      const model = decodeOnnxModel(await readFile(r.files.find((f) => f.endsWith('.onnx'))!)) as { graph: { node: { op_type: string }[] } };
      return model.graph.node.filter((n) => n.op_type === 'DequantizeLinear').length;
    };
    // The stem kernel + 3 experts × (up, down); the router and head stay float.
    expect(await dqNodes(arch(4, 2))).toBe(7);
    expect(await dqNodes(arch(32, 2))).toBe(6);
    expect(await dqNodes(arch(32, 32))).toBe(0);
    net.dispose();
  });
});
