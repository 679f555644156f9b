/**
 * ONNX for quantised subnets (compressed ones, and subnets whose blocks chose `bits` < 32; the ONNX writer,
 * ./writers.ts, writes every graph through it): the graph's ONNX model (core/export/onnxExport.ts) with every quantised
 * kernel stored as its int8 codes and per-output-channel float32 steps behind a DequantizeLinear node
 * (axis 1 of the [in, out] kernel, zero point 0: ONNX opset ≥ 13 per-axis dequantisation), so the file
 * holds the compressed weights and onnxruntime computes codes·step exactly as the graph evaluator does.
 * Weight-only: activations stay float, so no QuantizeLinear is needed at run time (the QDQ pair a
 * quantisation tool writes for a weight folds to this DequantizeLinear of a constant). A model → model
 * rewrite, so the float writer knows nothing of quantisation: each quantised kernel's float initializer
 * is found by its contents and replaced.
 */
import { buildOnnxModel, type OnnxExportOptions } from './onnxExport.js';
import { encodeOnnxModel, type OnnxModel, type OnnxNode, type OnnxTensor } from './onnxProto.js';
import type { SubnetGraph, SubnetOp } from '../nn/graph/evaluate.js';
import type { CompressedDense, QuantizedKernel } from '../nn/graph/quantize.js';

/** onnx.proto TensorProto.DataType INT8 and FLOAT. */
const INT8 = 3;
const FLOAT = 1;

function* quantizedKernels(ops: readonly SubnetOp[]): Generator<CompressedDense & { quant: QuantizedKernel }> {
  const isQ = (d: CompressedDense): d is CompressedDense & { quant: QuantizedKernel } => d.quant !== undefined;
  for (const o of ops) {
    if (o.op === 'residual') yield* quantizedKernels(o.body);
    // A dense block's `bits` choice (core/nn/graph/quantize.ts quantizeBlockOps) quantises its kernel.
    if (o.op === 'dense' && isQ(o.weights)) yield o.weights;
    if (o.op !== 'moe') continue;
    const ds: CompressedDense[] = [o.router, ...o.slots.flatMap((s) => (s.kind === 'expert' ? [s.ffn.up, s.ffn.down] : [])), ...o.shared.flatMap((f) => [f.up, f.down])];
    for (const d of ds) if (isQ(d)) yield d;
  }
}

const bytesOf = (a: Float32Array | Int8Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export interface QuantizedOnnx {
  model: OnnxModel;
  /** Kernels written as int8 + DequantizeLinear. */
  dequantized: number;
}

export function buildQuantizedOnnxModel(graph: SubnetGraph, opts: OnnxExportOptions = {}): QuantizedOnnx {
  const model = buildOnnxModel(graph, opts);
  const inits = model.graph.initializer;
  const dq: OnnxNode[] = [];
  const replaced = new Set<OnnxTensor>();
  const added: OnnxTensor[] = [];
  const done = new Set<object>();
  for (const d of quantizedKernels(graph.ops)) {
    if (done.has(d.kernel)) continue;
    done.add(d.kernel);
    const want = bytesOf(d.kernel);
    for (const t of inits) {
      if (replaced.has(t) || t.data_type !== FLOAT || t.dims.length !== 2 || t.dims[0] !== d.inDim || t.dims[1] !== d.outDim || !t.raw_data || !sameBytes(t.raw_data, want)) continue;
      replaced.add(t);
      const codes = `${t.name}_int8`;
      const scale = `${t.name}_scale`;
      added.push({ name: codes, dims: [d.inDim, d.outDim], data_type: INT8, raw_data: bytesOf(d.quant.codes).slice() });
      added.push({ name: scale, dims: [d.outDim], data_type: FLOAT, raw_data: bytesOf(d.quant.scale).slice() });
      dq.push({ name: `${t.name}_dequantize`, op_type: 'DequantizeLinear', input: [codes, scale], output: [t.name], attribute: [{ name: 'axis', type: 2, i: 1 }] });
    }
  }
  model.graph.initializer = [...inits.filter((t) => !replaced.has(t)), ...added];
  // The dequantisations read only initializers, so they go first and the node list stays topologically sorted.
  model.graph.node = [...dq, ...model.graph.node];
  return { model, dequantized: dq.length };
}

export function encodeQuantizedOnnx(graph: SubnetGraph, opts: OnnxExportOptions = {}): Uint8Array {
  return encodeOnnxModel(buildQuantizedOnnxModel(graph, opts).model);
}
