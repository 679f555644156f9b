import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { buildOnnxModel, encodeOnnxGraph } from '../export/onnxExport.js';
import { decodeOnnxModel } from '../export/onnxProto.js';
import { runSubnetGraph } from '../export/subnetGraph.js';
import { compressGraph } from './compressGraph.js';
import { encodeQuantizedOnnx, buildQuantizedOnnxModel } from './onnxQdq.js';
import { compressionMethods } from './registry.js';
import { randomRows } from './testExperts.js';
import { tinyMoEGraph } from './testGraph.js';

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
});
