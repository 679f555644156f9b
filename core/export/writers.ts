/**
 * The export writers, by format: each a graph → files pass (core/nn/graph/passes.ts GraphWriter) that
 * writes one subnet graph and can load what it wrote back to logits. exportSubnet runs the requested
 * formats through this record (the 'arch' format is the arch document, not a model, and stays there).
 * Adding a format: its writer here and its name in the protocol's ExportRequest formats.
 */
import * as tf from '@tensorflow/tfjs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { UnsupportedGraphError, type GraphWriter } from '../nn/graph/passes.js';
import { encodeOnnxModel } from './onnxProto.js';
import { buildQuantizedOnnxModel } from './onnxQdq.js';
import { buildLayersModel, fileModelHandler, saveLayersModel, TFJS_FILES, UnsupportedExportError } from './tfjsExport.js';

/** Where each writer puts its files, relative to the export folder. */
export const WRITER_FILES = { tfjsDir: 'tfjs', onnx: 'model.onnx' } as const;

/** tf.js LayersModel (model.json + weights.bin), loaded back with plain tf.loadLayersModel. */
export const tfjsWriter: GraphWriter = {
  format: 'tfjs',
  async write(graph, dir) {
    let model: tf.LayersModel;
    try {
      model = buildLayersModel(graph);
    } catch (e) {
      throw e instanceof UnsupportedExportError ? new UnsupportedGraphError(e.message) : e;
    }
    const tfjsDir = join(dir, WRITER_FILES.tfjsDir);
    const files = await saveLayersModel(model, tfjsDir);
    model.dispose();
    return {
      files,
      async run(x) {
        // What a user gets: the files on disk, loaded by plain tf.loadLayersModel.
        const loaded = await tf.loadLayersModel(fileModelHandler(join(tfjsDir, TFJS_FILES.model)));
        const out = tf.tidy(() => loaded.predict(x) as tf.Tensor);
        loaded.dispose();
        const data = (await out.data()) as Float32Array;
        out.dispose();
        return data;
      },
    };
  },
};

/**
 * ONNX (opset in ./onnxExport.ts), run back in onnxruntime-node. Quantised kernels (a block's `bits` choice, a
 * compression method) are stored as int8 codes behind DequantizeLinear (./onnxQdq.ts); such a model is run back
 * at graph optimisation 'basic', since onnxruntime's higher levels fuse DequantizeLinear → MatMul into a
 * dynamically quantised int8 GEMM (MatMulIntegerToFloat) whose logits differ by ~1e-2 from the model's
 * defined semantics, which is what the check compares.
 */
export const onnxWriter: GraphWriter = {
  format: 'onnx',
  async write(graph, dir, meta) {
    await mkdir(dir, { recursive: true });
    const file = join(dir, WRITER_FILES.onnx);
    const { model, dequantized } = buildQuantizedOnnxModel(graph, { docString: meta.description, metadata: meta.metadata });
    await writeFile(file, encodeOnnxModel(model));
    return {
      files: [file],
      async run(x) {
        const ort = await import('onnxruntime-node');
        const session = await ort.InferenceSession.create(await readFile(file), dequantized > 0 ? { graphOptimizationLevel: 'basic' } : {});
        const feeds = { input: new ort.Tensor('float32', Float32Array.from(await x.data()), x.shape) };
        const out = (await session.run(feeds)).logits!.data as Float32Array;
        await session.release();
        return out;
      },
    };
  },
};

export const graphWriters = { tfjs: tfjsWriter, onnx: onnxWriter } satisfies Record<string, GraphWriter>;
export type WriterFormat = keyof typeof graphWriters;
