/**
 * A subnet graph as an ONNX model (opset 17, IR version 8): MatMul/Add for dense layers, Conv with
 * SAME_UPPER padding (TensorFlow's 'same'), BatchNormalization, Relu/Tanh/Sigmoid, GELU as
 * x·0.5·(1 + Erf(x/√2)), GlobalAveragePool, Softmax, and MoE routing with TopK + ScatterElements
 * (top-k) or TopK + CumSum (top-p). The input is NHWC like the tfjs model; it is transposed to NCHW
 * for the convolutions and back before flattening, so both exports take the same tensors.
 */
import { OnnxDataType, encodeOnnxModel, type OnnxModel } from './onnxProto.js';
import { activation, attrFloat, attrInt, attrInts, attrString, dense, ffn, GraphBuilder } from './onnxBuilder.js';
import { selectionWriterOf } from './selections/registry.js';
import { inputShapeOf, type DenseWeights, type MoEOp, type SubnetGraph, type SubnetOp } from '../nn/graph/evaluate.js';
import { MASKED_LOGIT } from '../nn/moe/routers.js';

export const ONNX_OPSET = 17;
export const ONNX_IR_VERSION = 8;

/** 'sequence': [N, T, d], dense and MoE ops act on every token. */
type Layout = 'vector' | 'sequence' | 'nhwc' | 'nchw';

/**
 * RMoE's router input: h = GRU(x · proj, the chain's previous state) with torch's cell — gates from one
 * Split of x'·W_x + b_x and of h·W_h + b_h, h' = n + z ⊙ (h − n); the chain's first op holds the cell.
 */
function recurrentInput(g: GraphBuilder, x: string, rec: NonNullable<MoEOp['recurrent']>, n: string): string {
  const xp = dense(g, x, rec.proj, `${n}.rmoe_proj`);
  const H = rec.proj.outDim;
  const prev = g.chains.get(rec.chain);
  const w = (d: DenseWeights, side: string) => [
    g.weight(`${n}.gru_w${side}`, [d.inDim, d.outDim], d.kernel),
    g.weight(`${n}.gru_b${side}`, [d.outDim], d.bias!),
  ];
  let cell = prev?.cell;
  if (rec.gru) {
    const [wx, bx] = w(rec.gru.input, 'x');
    const [wh, bh] = w(rec.gru.hidden, 'h');
    cell = { wx: wx!, bx: bx!, wh: wh!, bh: bh! };
  }
  if (!cell) throw new Error(`${n}: its RMoE chain ${rec.chain} borrows the GRU cell of an earlier op, and there is none`);
  const h = prev?.h ?? g.one('Mul', [xp, g.scalar(0)], [], `${n}.gru_h0`);
  const split = (t: string, side: string) => g.node('Split', [t, g.ints([H, H, H])], [attrInt('axis', 1)], 3, `${n}.gru_${side}`);
  const [xr, xz, xn] = split(g.one('Add', [g.one('MatMul', [xp, cell.wx]), cell.bx]), 'x');
  const [hr, hz, hn] = split(g.one('Add', [g.one('MatMul', [h, cell.wh]), cell.bh]), 'h');
  const r = g.one('Sigmoid', [g.one('Add', [xr!, hr!])], [], `${n}.gru_r`);
  const z = g.one('Sigmoid', [g.one('Add', [xz!, hz!])], [], `${n}.gru_z`);
  const nn = g.one('Tanh', [g.one('Add', [xn!, g.one('Mul', [r, hn!])])], [], `${n}.gru_n`);
  const next = g.one('Add', [nn, g.one('Mul', [z, g.one('Sub', [h, nn])])], [], `${n}.gru_h`);
  g.chains.set(rec.chain, { h: next, cell });
  return next;
}

/** An MoE op: its update (one pass or Chain-of-Experts' passes), through MomentumSMoE's buffer where it has one. */
function moe(g: GraphBuilder, x: string, m: MoEOp): string {
  const f = moeUpdate(g, x, m);
  if (!m.momentum) return f;
  // MomentumSMoE: p = μ·p_prev + γ·f, the op gives −p.
  const gf = g.one('Mul', [f, g.scalar(m.momentum.gamma)], [], `${m.name}.mom_gamma`);
  const prev = g.momentum?.dim === m.dim ? g.momentum.p : null;
  const p = prev ? g.one('Add', [g.one('Mul', [prev, g.scalar(m.momentum.mu)]), gf], [], `${m.name}.mom`) : gf;
  g.momentum = { p, dim: m.dim };
  return g.one('Neg', [p], [], `${m.name}.mom_neg`);
}

/** The op's update: one pass, or Chain-of-Experts' x(C) − x over passes x(t) = x(t−1) + pass_t(x(t−1)). */
function moeUpdate(g: GraphBuilder, x: string, m: MoEOp): string {
  if (!m.iterations?.length) return moePass(g, x, m, m.router, m.name);
  let h = x;
  [m.router, ...m.iterations].forEach((r, t) => (h = g.one('Add', [h, moePass(g, h, m, r, t === 0 ? m.name : `${m.name}.it${t + 1}`)], [], `${m.name}.x${t + 1}`)));
  return g.one('Sub', [h, x], [], `${m.name}.chain`);
}

function moePass(g: GraphBuilder, x: string, m: MoEOp, router: DenseWeights, n: string): string {
  const s = m.slots.length;
  // ProMoE prototypes: the router reads x / |x| (its kernel holds α · the unit prototypes).
  const routerInput = m.prototype ? g.one('Div', [x, g.one('Max', [g.one('ReduceL2', [x], [attrInts('axes', [1]), attrInt('keepdims', 1)], `${n}.x_norm`), g.scalar(1e-12)], [], `${n}.x_norm_safe`)], [], `${n}.x_unit`) : x;
  let logits = dense(g, m.recurrent ? recurrentInput(g, x, m.recurrent, n) : routerInput, router, `${n}.router`);
  if (m.similarity) {
    // Similarity-aware routing: log(softmax_rows(x ws xᵀ / τ) · softmax(logits)) over the batch's rows.
    const sim = m.similarity;
    const q = g.one('MatMul', [x, g.weight(`${n}.sim_ws`, [sim.ws.inDim, sim.ws.outDim], sim.ws.kernel)], [], `${n}.sim_q`);
    const scores = g.one('Div', [g.one('MatMul', [q, g.one('Transpose', [x], [attrInts('perm', [1, 0])], `${n}.sim_xt`)], [], `${n}.sim_dot`), g.scalar(sim.temperature)], [], `${n}.sim_scores`);
    const similarity = g.one('Softmax', [scores], [attrInt('axis', -1)], `${n}.sim`);
    const mixed = g.one('MatMul', [similarity, g.one('Softmax', [logits], [attrInt('axis', -1)], `${n}.sim_p`)], [], `${n}.sim_mixed`);
    logits = g.one('Log', [g.one('Max', [mixed, g.scalar(1e-30)], [], `${n}.sim_floor`)], [], `${n}.sim_logits`);
  }
  if (m.gateResidual && g.lastLogits && g.lastLogits.slots === s) {
    logits = g.one('Add', [logits, dense(g, g.lastLogits.name, m.gateResidual, `${n}.gate_residual`)], [], `${n}.logits`);
  }
  g.lastLogits = { name: logits, slots: s };
  // ProMoE prototypes: the scores are the cosine logits themselves (no softmax).
  const probs = m.prototype ? logits : g.one('Softmax', [logits], [attrInt('axis', -1)], `${n}.probs`);
  // The selection op's writer (./selections/).
  const mask = selectionWriterOf(m.gating).onnx(g, probs, m.gating, s, n);
  let gate = g.one('Mul', [probs, mask], [], `${n}.gate`);
  if (m.normalize) {
    // Renormalised over the chosen slots that compute (null slots left out) as a masked softmax of the
    // logits, 0 elsewhere — core/nn/moe/routers.ts renormalizedGates.
    const computing = g.weight(`${n}.computing`, [1, s], m.slots.map((sl) => (sl.kind === 'null' ? 0 : 1)));
    const selected = g.one('Mul', [mask, computing], [], `${n}.selected`);
    const penalty = g.one('Mul', [g.one('Sub', [selected, g.scalar(1)]), g.scalar(MASKED_LOGIT)], [], `${n}.penalty`);
    const soft = g.one('Softmax', [g.one('Add', [logits, penalty])], [attrInt('axis', -1)], `${n}.renorm`);
    gate = g.one('Mul', [soft, selected], [], `${n}.gate`);
  }
  const parts: string[] = [];
  const column = (i: number) => g.one('Unsqueeze', [g.one('Gather', [gate, g.intScalar(i)], [attrInt('axis', 1)]), g.ints([1])], [], `${n}.g${i}`);
  m.slots.forEach((slot, i) => {
    const sn = `${n}.${slot.name}`;
    if (slot.kind === 'expert') parts.push(g.one('Mul', [column(i), ffn(g, x, slot.ffn, sn)], [], sn));
    else if (slot.kind === 'copy') parts.push(g.one('Mul', [column(i), x], [], sn));
    else if (slot.kind === 'constant') {
      const value = g.weight(`${sn}.value`, [1, m.dim], slot.value);
      if (!slot.gate) parts.push(g.one('MatMul', [column(i), value], [], sn));
      else {
        // α₁·x + α₂·v, [α₁, α₂] = softmax(x · gate)
        const alpha = g.one('Softmax', [dense(g, x, slot.gate, `${sn}.mix`)], [attrInt('axis', -1)], `${sn}.alpha`);
        const a = (j: number) => g.one('Unsqueeze', [g.one('Gather', [alpha, g.intScalar(j)], [attrInt('axis', 1)]), g.ints([1])], [], `${sn}.a${j}`);
        const mixed = g.one('Add', [g.one('Mul', [a(0), x]), g.one('MatMul', [a(1), value])], [], `${sn}.mixed`);
        parts.push(g.one('Mul', [column(i), mixed], [], sn));
      }
    }
  });
  m.shared.forEach((f, i) => parts.push(ffn(g, x, f, `${n}.shared${i}`)));
  const out = parts.length === 0 ? g.one('Mul', [x, g.scalar(0)], [], `${n}.out`) : parts.length === 1 ? parts[0]! : g.one('Sum', parts, [], `${n}.out`);
  if (!m.residualMlp) return out;
  // DeepSpeed-MoE residual MoE: c₀·out + c₁·mlp(x), [c₀, c₁] = softmax(x · coef + b).
  const coef = g.one('Softmax', [dense(g, x, m.residualMlp.coef, `${n}.rmlp_coef`)], [attrInt('axis', -1)], `${n}.rmlp_c`);
  const c = (j: number) => g.one('Unsqueeze', [g.one('Gather', [coef, g.intScalar(j)], [attrInt('axis', 1)]), g.ints([1])], [], `${n}.rmlp_c${j}`);
  return g.one('Add', [g.one('Mul', [c(0), out], [], `${n}.rmlp_moe`), g.one('Mul', [c(1), ffn(g, x, m.residualMlp.mlp, `${n}.rmlp`)], [], `${n}.rmlp_mlp`)], [], `${n}.rmlp_out`);
}

/**
 * Multi-head self-attention on [N, T, d] (core/nn/graph/ops.ts 'attention'): MatMul projections, Reshape
 * [N, T, h, dₕ] + Transpose to [N, h, T, dₕ] (K to [N, h, dₕ, T]), MatMul, scale, the additive causal mask as a
 * [T, T] constant (T the lowered length), Softmax over the keys, MatMul with V, merged heads, the output projection.
 */
function attention(g: GraphBuilder, x: string, o: Extract<SubnetOp, { op: 'attention' }>): string {
  const n = o.name;
  const { heads: h, headDim: dh, length: T } = o;
  const heads = (w: DenseWeights, part: string, perm: number[]) =>
    g.one('Transpose', [g.one('Reshape', [dense(g, x, w, `${n}.${part}`), g.ints([0, 0, h, dh])], [], `${n}.${part}_heads`)], [attrInts('perm', perm)], `${n}.${part}_t`);
  const q = heads(o.q, 'q', [0, 2, 1, 3]);
  const k = heads(o.k, 'k', [0, 2, 3, 1]);
  const v = heads(o.v, 'v', [0, 2, 1, 3]);
  let scores = g.one('Mul', [g.one('MatMul', [q, k], [], `${n}.qk`), g.scalar(1 / Math.sqrt(dh))], [], `${n}.scores`);
  if (o.causal) {
    const mask = new Float32Array(T * T);
    for (let i = 0; i < T; i++) for (let j = i + 1; j < T; j++) mask[i * T + j] = o.maskValue;
    scores = g.one('Add', [scores, g.weight(`${n}.causal_mask`, [T, T], mask)], [], `${n}.masked`);
  }
  const attended = g.one('MatMul', [g.one('Softmax', [scores], [attrInt('axis', -1)], `${n}.probs`), v], [], `${n}.pv`);
  const merged = g.one('Reshape', [g.one('Transpose', [attended], [attrInts('perm', [0, 2, 1, 3])], `${n}.merge_t`), g.ints([0, 0, h * dh])], [], `${n}.merged`);
  return dense(g, merged, o.o, `${n}.o`);
}

/** Where the emitted graph stands: the current tensor and its layout. */
interface Emitted {
  x: string;
  layout: Layout;
}

type OpOf<K extends SubnetOp['op']> = Extract<SubnetOp, { op: K }>;

/** An image batch in NCHW (what Conv and the pools read), transposing once from the NHWC input. */
function toNchw(g: GraphBuilder, e: Emitted): string {
  if (e.layout !== 'nhwc') return e.x;
  return g.one('Transpose', [e.x], [attrInts('perm', [0, 3, 1, 2])], 'to_nchw');
}

/** Each graph op's ONNX nodes, by op kind: the one place a new op's ONNX writer is registered. */
const opWriters: { [K in SubnetOp['op']]: (g: GraphBuilder, e: Emitted, o: OpOf<K>) => Emitted } = {
  dense: (g, e, o) => ({ x: dense(g, e.x, o.weights, o.name), layout: e.layout }),
  conv2d: (g, e, o) => {
    // HWIO → OIHW
    const { kernelSize: k, inChannels: ci, outChannels: co } = o;
    const oihw = new Float32Array(o.kernel.length);
    for (let h = 0; h < k; h++)
      for (let w = 0; w < k; w++)
        for (let i = 0; i < ci; i++)
          for (let c = 0; c < co; c++) oihw[((c * ci + i) * k + h) * k + w] = o.kernel[((h * k + w) * ci + i) * co + c]!;
    const inputs = [toNchw(g, e), g.weight(`${o.name}.kernel`, [co, ci, k, k], oihw)];
    if (o.bias) inputs.push(g.weight(`${o.name}.bias`, [co], o.bias));
    return { x: g.one('Conv', inputs, [attrString('auto_pad', 'SAME_UPPER'), attrInts('kernel_shape', [k, k]), attrInts('strides', [o.stride, o.stride])], o.name), layout: 'nchw' };
  },
  batchNorm: (g, e, o) => {
    const c = o.channels;
    const x = g.one(
      'BatchNormalization',
      [toNchw(g, e), g.weight(`${o.name}.gamma`, [c], o.gamma), g.weight(`${o.name}.beta`, [c], o.beta), g.weight(`${o.name}.mean`, [c], o.mean), g.weight(`${o.name}.var`, [c], o.variance)],
      [attrFloat('epsilon', o.epsilon)],
      o.name,
    );
    return { x, layout: e.layout === 'nhwc' ? 'nchw' : e.layout };
  },
  activation: (g, e, o) => ({ x: activation(g, e.x, o.fn, o.name), layout: e.layout }),
  globalAvgPool: (g, e, o) => ({ x: g.one('Flatten', [g.one('GlobalAveragePool', [toNchw(g, e)], [], o.name)], [attrInt('axis', 1)], o.name), layout: 'vector' }),
  tokenMean: (g, e, o) => ({ x: g.one('ReduceMean', [e.x], [attrInts('axes', [1]), attrInt('keepdims', 0)], o.name), layout: 'vector' }),
  flatten: (g, e, o) => {
    const x = e.layout === 'nchw' ? g.one('Transpose', [e.x], [attrInts('perm', [0, 2, 3, 1])], 'to_nhwc') : e.x;
    return { x: g.one('Flatten', [x], [attrInt('axis', 1)], o.name), layout: 'vector' };
  },
  residual: (g, e, o) => {
    const body = emit(g, e, o.body);
    return { x: g.one('Add', [e.x, body.x], [], o.name), layout: e.layout };
  },
  // Token ids (floats) → Cast to int64 → Gather rows of the table, + the first T position rows (broadcast over N).
  tokenEmbedding: (g, e, o) => {
    const ids = g.one('Cast', [e.x], [attrInt('to', OnnxDataType.INT64)], `${o.name}.ids`);
    const rows = g.one('Gather', [g.weight(`${o.name}.tokens`, [o.vocab, o.dim], o.table), ids], [attrInt('axis', 0)], `${o.name}.rows`);
    return { x: g.one('Add', [rows, g.weight(`${o.name}.positions`, [o.length, o.dim], o.positions)], [], o.name), layout: 'sequence' };
  },
  patchEmbedding: (g, e, o) => ({
    x: g.one('Add', [dense(g, e.x, o.weights, `${o.name}.proj`), g.weight(`${o.name}.positions`, [o.length, o.weights.outDim], o.positions)], [], o.name),
    layout: 'sequence',
  }),
  // Opset 17 has LayerNormalization (over the last axis, biased variance).
  layerNorm: (g, e, o) => ({
    x: g.one('LayerNormalization', [e.x, g.weight(`${o.name}.gamma`, [o.dim], o.gamma), g.weight(`${o.name}.beta`, [o.dim], o.beta)], [attrInt('axis', -1), attrFloat('epsilon', o.epsilon)], o.name),
    layout: e.layout,
  }),
  attention: (g, e, o) => ({ x: attention(g, e.x, o), layout: e.layout }),
  // On a sequence the op routes the N·T tokens as rows ([N, T, d] → [N·T, d] → back to x's shape).
  moe: (g, e, o) => ({
    x: e.layout === 'sequence' ? g.one('Reshape', [moe(g, g.one('Reshape', [e.x, g.ints([-1, o.dim])], [], `${o.name}.tokens`), o), g.one('Shape', [e.x], [], `${o.name}.shape`)], [], `${o.name}.seq`) : moe(g, e.x, o),
    layout: e.layout,
  }),
};

function emit(g: GraphBuilder, start: Emitted, ops: readonly SubnetOp[]): Emitted {
  return ops.reduce((e, o) => (opWriters[o.op] as (g: GraphBuilder, e: Emitted, o: SubnetOp) => Emitted)(g, e, o), start);
}

export interface OnnxExportOptions {
  producerVersion?: string;
  docString?: string;
  metadata?: Record<string, string>;
}

/** Build the ModelProto of a subnet graph. Input "input" [N, ...inputShape] (NHWC), output "logits". */
export function buildOnnxModel(graph: SubnetGraph, opts: OnnxExportOptions = {}): OnnxModel {
  const g = new GraphBuilder();
  const shape = inputShapeOf(graph.input);
  const out = emit(g, { x: 'input', layout: graph.input.kind === 'sequence' ? 'sequence' : shape.length === 1 ? 'vector' : 'nhwc' }, graph.ops);
  g.nodes.push({ name: 'logits_identity', op_type: 'Identity', input: [out.x], output: ['logits'], attribute: [] });
  const valueInfo = (name: string, dims: (number | string)[]) => ({
    name,
    type: {
      tensor_type: {
        elem_type: OnnxDataType.FLOAT,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dim_value: d } : { dim_param: d })) },
      },
    },
  });
  return {
    ir_version: ONNX_IR_VERSION,
    producer_name: 'switchyard',
    producer_version: opts.producerVersion ?? '0',
    doc_string: opts.docString,
    opset_import: [{ domain: '', version: ONNX_OPSET }],
    graph: {
      name: 'switchyard_subnet',
      node: g.nodes,
      initializer: g.initializers,
      input: [valueInfo('input', ['batch', ...shape])],
      // A token model's head predicts every position: [N, T, classes].
      output: [valueInfo('logits', out.layout === 'sequence' ? ['batch', shape[0]!, graph.numClasses] : ['batch', graph.numClasses])],
    },
    metadata_props: Object.entries(opts.metadata ?? {}).map(([key, value]) => ({ key, value })),
  };
}

export function encodeOnnxGraph(graph: SubnetGraph, opts: OnnxExportOptions = {}): Uint8Array {
  return encodeOnnxModel(buildOnnxModel(graph, opts));
}
