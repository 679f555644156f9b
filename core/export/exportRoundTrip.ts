/**
 * A graph written as both formats and run back from them: the tfjs LayersModel saved to a folder and
 * loaded with tf.loadLayersModel, and the ONNX bytes run by onnxruntime-node. Export checks compare these
 * outputs with the supernet's forward pass.
 */
import * as tf from '@tensorflow/tfjs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeOnnxGraph } from './onnxExport.js';
import type { SubnetGraph } from '../nn/graph/evaluate.js';
import { buildLayersModel, fileModelHandler, saveLayersModel } from './tfjsExport.js';

export async function exportedLogits(graph: SubnetGraph, x: tf.Tensor): Promise<{ tfjs: Float32Array; onnx: Float32Array }> {
  const dir = await mkdtemp(join(tmpdir(), 'sy-roundtrip-'));
  const model = buildLayersModel(graph);
  await saveLayersModel(model, dir);
  model.dispose();
  const loaded = await tf.loadLayersModel(fileModelHandler(join(dir, 'model.json')));
  const out = loaded.predict(x) as tf.Tensor;
  const tfjs = Float32Array.from(out.dataSync());
  out.dispose();
  loaded.dispose();
  const ort = await import('onnxruntime-node');
  const session = await ort.InferenceSession.create(encodeOnnxGraph(graph));
  const onnx = Float32Array.from((await session.run({ input: new ort.Tensor('float32', Float32Array.from(x.dataSync()), x.shape) })).logits!.data as Float32Array);
  return { tfjs, onnx };
}
