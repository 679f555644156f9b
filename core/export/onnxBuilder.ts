/**
 * The ONNX writer's shared builders (./onnxExport.ts): typed initializers and attributes, the node graph
 * with fresh names and constants stored once, and the dense / activation / FFN emitters. The selection
 * writers (./selections/) build their masks with them.
 */
import { OnnxAttributeType, OnnxDataType, type OnnxAttribute, type OnnxNode, type OnnxTensor } from './onnxProto.js';
import type { DenseWeights, Ffn } from '../nn/graph/ops.js';
import type { Activation } from '../space/SearchSpace.js';

function f32Tensor(name: string, dims: number[], data: Float32Array | number[]): OnnxTensor {
  const arr = data instanceof Float32Array ? data : Float32Array.from(data);
  return { name, dims, data_type: OnnxDataType.FLOAT, raw_data: new Uint8Array(arr.buffer.slice(arr.byteOffset, arr.byteOffset + arr.byteLength)) };
}

function i64Tensor(name: string, dims: number[], data: number[]): OnnxTensor {
  const buf = new BigInt64Array(data.map((v) => BigInt(v)));
  return { name, dims, data_type: OnnxDataType.INT64, raw_data: new Uint8Array(buf.buffer) };
}

export const attrInt = (name: string, i: number): OnnxAttribute => ({ name, type: OnnxAttributeType.INT, i });
export const attrInts = (name: string, ints: number[]): OnnxAttribute => ({ name, type: OnnxAttributeType.INTS, ints });
export const attrFloat = (name: string, f: number): OnnxAttribute => ({ name, type: OnnxAttributeType.FLOAT, f });
export const attrString = (name: string, s: string): OnnxAttribute => ({ name, type: OnnxAttributeType.STRING, s: new TextEncoder().encode(s) });

export class GraphBuilder {
  readonly nodes: OnnxNode[] = [];
  readonly initializers: OnnxTensor[] = [];
  private counter = 0;
  private consts = new Map<string, string>();
  /** Router logits of the last MoE op emitted, and its slot count (MoE++ gating residuals). */
  lastLogits: { name: string; slots: number } | null = null;
  /** RMoE chains (MoEOp.recurrent): the state the last op of each left, and its cell's initializers. */
  readonly chains = new Map<string, { h: string; cell: { wx: string; bx: string; wh: string; bh: string } }>();
  /** MomentumSMoE: the buffer the last momentum op left, and its width. */
  momentum: { p: string; dim: number } | null = null;

  fresh(base: string): string {
    return `${base.replace(/[^\w.]/g, '_')}__${this.counter++}`;
  }

  node(op: string, inputs: string[], attrs: OnnxAttribute[] = [], outputs = 1, base = op): string[] {
    const outs = Array.from({ length: outputs }, () => this.fresh(base));
    this.nodes.push({ name: this.fresh(`${base}_node`), op_type: op, input: inputs, output: outs, attribute: attrs });
    return outs;
  }

  one(op: string, inputs: string[], attrs: OnnxAttribute[] = [], base = op): string {
    return this.node(op, inputs, attrs, 1, base)[0]!;
  }

  /** Initializers by their data array: an array given again (an expert in every Chain-of-Experts pass) is stored once. */
  private readonly byData = new WeakMap<Float32Array, string>();

  weight(base: string, dims: number[], data: Float32Array | number[]): string {
    const known = data instanceof Float32Array ? this.byData.get(data) : undefined;
    if (known) return known;
    const name = this.fresh(base);
    this.initializers.push(f32Tensor(name, dims, data));
    if (data instanceof Float32Array) this.byData.set(data, name);
    return name;
  }

  scalar(v: number): string {
    const key = `f:${v}`;
    let n = this.consts.get(key);
    if (!n) {
      n = this.weight('const', [], [v]);
      this.consts.set(key, n);
    }
    return n;
  }

  ints(values: number[]): string {
    const key = `i:${values.join(',')}`;
    let n = this.consts.get(key);
    if (!n) {
      n = this.fresh('ints');
      this.initializers.push(i64Tensor(n, [values.length], values));
      this.consts.set(key, n);
    }
    return n;
  }

  intScalar(v: number): string {
    const key = `is:${v}`;
    let n = this.consts.get(key);
    if (!n) {
      n = this.fresh('int');
      this.initializers.push(i64Tensor(n, [], [v]));
      this.consts.set(key, n);
    }
    return n;
  }
}

export function dense(g: GraphBuilder, x: string, w: DenseWeights, name: string): string {
  const k = g.weight(`${name}.kernel`, [w.inDim, w.outDim], w.kernel);
  const y = g.one('MatMul', [x, k], [], name);
  return w.bias ? g.one('Add', [y, g.weight(`${name}.bias`, [w.outDim], w.bias)], [], name) : y;
}

export function activation(g: GraphBuilder, x: string, fn: Activation, name: string): string {
  switch (fn) {
    case 'relu':
      return g.one('Relu', [x], [], name);
    case 'tanh':
      return g.one('Tanh', [x], [], name);
    case 'sigmoid':
      return g.one('Sigmoid', [x], [], name);
    case 'linear':
      return x;
    case 'gelu': {
      const e = g.one('Erf', [g.one('Div', [x, g.scalar(Math.SQRT2)], [], name)], [], name);
      const cdf = g.one('Mul', [g.scalar(0.5), g.one('Add', [g.scalar(1), e], [], name)], [], name);
      return g.one('Mul', [x, cdf], [], name);
    }
  }
}

export function ffn(g: GraphBuilder, x: string, f: Ffn, name: string): string {
  return dense(g, activation(g, dense(g, x, f.up, `${name}.up`), f.activation, `${name}.act`), f.down, `${name}.down`);
}
