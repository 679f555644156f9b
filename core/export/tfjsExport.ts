/**
 * A subnet as a standalone tfjs LayersModel made only of built-in layers, so plain @tensorflow/tfjs
 * loads it with `tf.loadLayersModel` (no custom layer registration).
 *
 * MoE blocks are computed densely (every expert of the subnet runs) and gated with a mask built from
 * built-in layers, an exact construction:
 * - slot ranks come from pairwise comparisons of the router probabilities. For slots i < j a Dense
 *   layer computes K·p_j − K·p_i with K = 2¹⁰⁰ (a power of two, so the scaling is exact and the one
 *   rounded subtraction keeps the sign of p_j − p_i); ReLU(maxValue = 1) turns it into the indicator
 *   [p_j > p_i], because any non-zero difference of float32 probabilities above 2⁻¹⁰⁰ becomes ≥ 1.
 *   rank_i = Σ_{j>i}[p_j > p_i] + Σ_{j<i}(1 − [p_i > p_j]) — ties go to the lower index, as tf.topk.
 * - top-k keeps rank_i < k: ReLU(maxValue = 1)(k − rank_i), exact because ranks are small integers.
 * - top-p keeps slot i when the mass ranked above it, Σ_j beats(j,i)·p_j, is below p (again a
 *   K-scaled difference clipped to [0, 1]), and rank_i < maxK (a Minimum layer).
 * - renormalised gates are a softmax of the router logits plus (mask − 1)·10⁹, which is exactly zero
 *   off the mask and exp(l_i)/Σ_selected exp(l_j) on it.
 * - a gate column is tiled to the model width by a Dense layer with a one-hot kernel row (exact) and
 *   multiplied with the expert's output.
 * The comparisons need float32 arithmetic (2¹⁰⁰·p must not overflow): true on the cpu, wasm, webgpu
 * and tensorflow backends and on WebGL with float32 textures, not on WebGL devices limited to float16.
 */
import * as tf from '@tensorflow/tfjs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { inputShapeOf, type DenseWeights, type MoEOp, type SubnetGraph, type SubnetOp } from '../nn/graph/evaluate.js';
import { Builder, ffn, MASK_BIG, UnsupportedExportError } from './tfjsBuilder.js';
import { selectionWriterOf } from './selections/registry.js';

export { UnsupportedExportError };

type SymbolicTensor = tf.SymbolicTensor;

/** Columns [i·H, (i+1)·H) of a dense map (and of its bias): one gate of a packed [r | z | n] GRU product. */
function gateColumns(w: DenseWeights, i: number): DenseWeights {
  const H = w.outDim / 3;
  const kernel = new Float32Array(w.inDim * H);
  for (let r = 0; r < w.inDim; r++) kernel.set(w.kernel.subarray(r * w.outDim + i * H, r * w.outDim + (i + 1) * H), r * H);
  return { kernel, bias: w.bias ? w.bias.slice(i * H, (i + 1) * H) : null, inDim: w.inDim, outDim: H };
}

/**
 * RMoE's router input: h = GRU(x · proj, the chain's previous state), torch's cell from built-in layers —
 * r, z = sigmoid(Dense_x + Dense_h), n = tanh(Dense_x + r ⊙ Dense_h), h' = n + z ⊙ h − z ⊙ n; the cell's
 * six Dense layers are made by the chain's first op and applied again by the later ones (shared weights).
 */
function recurrentInput(b: Builder, x: SymbolicTensor, rec: NonNullable<MoEOp['recurrent']>, n: string): SymbolicTensor {
  const xp = b.dense(x, rec.proj, `${n}_rmoe_proj`);
  const H = rec.proj.outDim;
  const prev = b.chains.get(rec.chain);
  let cell = prev?.cell;
  if (rec.gru) {
    const g = rec.gru;
    const gates = (w: DenseWeights, side: string) => [0, 1, 2].map((i) => b.denseLayer(gateColumns(w, i), `${n}_gru_${side}${'rzn'[i]}`));
    const [ir, iz, inn] = gates(g.input, 'x');
    const [hr, hz, hn] = gates(g.hidden, 'h');
    const act = (fn: string, t: SymbolicTensor, name: string) => tf.layers.activation({ activation: fn as never, name: b.name(name) }).apply(t) as SymbolicTensor;
    const negate = scaledEye(H, -1);
    cell = (xi, h) => {
      const on = (l: tf.layers.Layer, t: SymbolicTensor) => l.apply(t) as SymbolicTensor;
      const r = act('sigmoid', b.add([on(ir!, xi), on(hr!, h)], `${n}_gru_r_sum`), `${n}_gru_r`);
      const z = act('sigmoid', b.add([on(iz!, xi), on(hz!, h)], `${n}_gru_z_sum`), `${n}_gru_z`);
      const nn = act('tanh', b.add([on(inn!, xi), b.multiply(r, on(hn!, h), `${n}_gru_rh`)], `${n}_gru_n_sum`), `${n}_gru_n`);
      const zn = b.fixed(b.multiply(z, nn, `${n}_gru_zn`), negate, H, H, null, `${n}_gru_neg_zn`);
      return b.add([nn, b.multiply(z, h, `${n}_gru_zh`), zn], `${n}_gru_h`);
    };
  }
  if (!cell) throw new UnsupportedExportError(`${n}: its RMoE chain ${rec.chain} borrows the GRU cell of an earlier op, and there is none`);
  const h0 = prev?.h ?? b.fixed(xp, new Float32Array(H * H), H, H, null, `${n}_gru_h0`);
  const h = cell(xp, h0);
  b.chains.set(rec.chain, { h, cell });
  return h;
}

/** An MoE op: its update (one pass or Chain-of-Experts' passes), through MomentumSMoE's buffer where it has one. */
function moeLayers(b: Builder, x: SymbolicTensor, m: MoEOp): SymbolicTensor {
  const f = moeUpdate(b, x, m);
  if (!m.momentum) return f;
  // MomentumSMoE: p = μ·p_prev + γ·f (fixed diagonal maps), the op gives −p.
  const { mu, gamma } = m.momentum;
  const prev = b.momentum?.dim === m.dim ? b.momentum.p : null;
  const gf = b.fixed(f, scaledEye(m.dim, gamma), m.dim, m.dim, null, `${m.name}_mom_gamma`);
  const p = prev ? b.add([b.fixed(prev, scaledEye(m.dim, mu), m.dim, m.dim, null, `${m.name}_mom_mu`), gf], `${m.name}_mom`) : gf;
  b.momentum = { p, dim: m.dim };
  return b.fixed(p, scaledEye(m.dim, -1), m.dim, m.dim, null, `${m.name}_mom_neg`);
}

/** c · I (n × n). */
function scaledEye(n: number, c: number): Float32Array {
  const k = new Float32Array(n * n);
  for (let i = 0; i < n; i++) k[i * n + i] = c;
  return k;
}

/** The op's update: one pass, or Chain-of-Experts' x(C) − x. */
function moeUpdate(b: Builder, x: SymbolicTensor, m: MoEOp): SymbolicTensor {
  if (!m.iterations?.length) return moePass(b, x, m, m.router, m.name);
  let h = x;
  [m.router, ...m.iterations].forEach((r, t) => (h = b.add([h, moePass(b, h, m, r, t === 0 ? m.name : `${m.name}_it${t + 1}`)], `${m.name}_x${t + 1}`)));
  return b.add([h, b.fixed(x, scaledEye(m.dim, -1), m.dim, m.dim, null, `${m.name}_minus_x`)], `${m.name}_chain`);
}

function moePass(b: Builder, x: SymbolicTensor, m: MoEOp, router: DenseWeights, n: string): SymbolicTensor {
  const s = m.slots.length;
  const selection = selectionWriterOf(m.gating);
  if (!selection.tfjs) throw new UnsupportedExportError(`${n}: ${selection.tfjsUnsupported ?? `no tfjs writer for the '${m.gating.mode}' selection`}`);
  if (m.prototype) {
    throw new UnsupportedExportError(`${n}: ProMoE prototypical routing reads the L2-normalised input, which no built-in tfjs layer computes; export it as ONNX`);
  }
  if (m.similarity) {
    throw new UnsupportedExportError(
      `${n}: similarity-aware routing mixes the router distribution over the rows of the batch, which a tfjs LayersModel (per-sample layers) cannot express; export it as ONNX`,
    );
  }
  let logits = b.dense(m.recurrent ? recurrentInput(b, x, m.recurrent, n) : x, router, `${n}_router`);
  if (m.gateResidual && b.lastLogits && b.lastLogits.slots === s) {
    logits = b.add([logits, b.dense(b.lastLogits.t, m.gateResidual, `${n}_gate_residual`)], `${n}_logits`);
  }
  b.lastLogits = { t: logits, slots: s };
  const probs = tf.layers.softmax({ axis: -1, name: b.name(`${n}_probs`) }).apply(logits) as SymbolicTensor;

  // One slot: always selected (k ≥ 1; top-p keeps the first slot since nothing ranks above it); else the
  // selection op's writer (./selections/).
  const mask = s === 1 ? b.fixed(probs, new Float32Array([0]), 1, 1, new Float32Array([1]), `${n}_mask`) : selection.tfjs(b, probs, m.gating, s, n);

  let gate: SymbolicTensor;
  if (m.normalize) {
    // Softmax over the logits of the chosen slots that compute (null slots always masked out), which is
    // the probabilities renormalised over them. An extra column takes the whole mass when no computing
    // slot was chosen, so such a token keeps gates of 0, as the reference graph does.
    const computing = m.slots.map((sl) => sl.kind !== 'null');
    const eye = new Float32Array(s * s);
    for (let i = 0; i < s; i++) if (computing[i]) eye[i * s + i] = MASK_BIG;
    const penalty = b.fixed(mask, eye, s, s, new Float32Array(s).fill(-MASK_BIG), `${n}_penalty`);
    const masked = b.add([logits, penalty], `${n}_masked_logits`);
    const anyK = Float32Array.from(computing, (c) => (c ? 1 : 0));
    const any = b.clip01(b.fixed(mask, anyK, s, 1, null, `${n}_any_lin`), `${n}_any`);
    // [masked, spare] as a sum of two fixed maps into s + 1 columns (built-in layer classes only).
    const widen = new Float32Array(s * (s + 1));
    for (let i = 0; i < s; i++) widen[i * (s + 1) + i] = 1;
    const spareK = new Float32Array(s + 1);
    spareK[s] = -2 * MASK_BIG;
    const withSpare = b.add([b.fixed(masked, widen, s, s + 1, null, `${n}_masked_wide`), b.fixed(any, spareK, 1, s + 1, null, `${n}_spare`)], `${n}_masked_spare`);
    const soft = tf.layers.softmax({ axis: -1, name: b.name(`${n}_gate_spare`) }).apply(withSpare) as SymbolicTensor;
    const drop = new Float32Array((s + 1) * s);
    for (let i = 0; i < s; i++) drop[i * s + i] = 1;
    gate = b.fixed(soft, drop, s + 1, s, null, `${n}_gate`);
  } else {
    gate = b.multiply(probs, mask, `${n}_gate`);
  }

  const parts: SymbolicTensor[] = [];
  const column = (i: number, values: Float32Array | null, name: string) => {
    const k = new Float32Array(s * m.dim);
    for (let d = 0; d < m.dim; d++) k[i * m.dim + d] = values ? values[d]! : 1;
    return b.fixed(gate, k, s, m.dim, null, name);
  };
  m.slots.forEach((slot, i) => {
    const sn = `${n}_${slot.name}`;
    if (slot.kind === 'expert') parts.push(b.multiply(column(i, null, `${sn}_gate`), ffn(b, x, slot.ffn, sn), `${sn}_out`));
    else if (slot.kind === 'copy') parts.push(b.multiply(column(i, null, `${sn}_gate`), x, `${sn}_out`));
    else if (slot.kind === 'constant' && !slot.gate) parts.push(column(i, slot.value, `${sn}_out`));
    else if (slot.kind === 'constant' && slot.gate) {
      // α₁·x + α₂·v with [α₁, α₂] = softmax(x · gate), times the slot's gate.
      const alpha = tf.layers.softmax({ axis: -1, name: b.name(`${sn}_alpha`) }).apply(b.dense(x, slot.gate, `${sn}_mix`)) as SymbolicTensor;
      const a1K = new Float32Array(2 * m.dim).fill(0, m.dim).fill(1, 0, m.dim);
      const a2V = new Float32Array(2 * m.dim);
      a2V.set(slot.value, m.dim);
      const mixed = b.add([b.multiply(b.fixed(alpha, a1K, 2, m.dim, null, `${sn}_a1`), x, `${sn}_a1x`), b.fixed(alpha, a2V, 2, m.dim, null, `${sn}_a2v`)], `${sn}_mixed`);
      parts.push(b.multiply(column(i, null, `${sn}_gate`), mixed, `${sn}_out`));
    }
  });
  m.shared.forEach((f, i) => parts.push(ffn(b, x, f, `${n}_shared${i}`)));
  const out = parts.length === 0 ? b.fixed(x, new Float32Array(m.dim * m.dim), m.dim, m.dim, null, `${n}_zero`) : b.add(parts, `${n}_sum`);
  if (!m.residualMlp) return out;
  // DeepSpeed-MoE residual MoE: c₀·out + c₁·mlp(x), [c₀, c₁] = softmax(x · coef + b), each c broadcast by a fixed map.
  const coef = tf.layers.softmax({ axis: -1, name: b.name(`${n}_rmlp_c`) }).apply(b.dense(x, m.residualMlp.coef, `${n}_rmlp_coef`)) as SymbolicTensor;
  const spread = (j: number) => {
    const k = new Float32Array(2 * m.dim);
    k.fill(1, j * m.dim, (j + 1) * m.dim);
    return b.fixed(coef, k, 2, m.dim, null, `${n}_rmlp_c${j}`);
  };
  return b.add([b.multiply(spread(0), out, `${n}_rmlp_moe`), b.multiply(spread(1), ffn(b, x, m.residualMlp.mlp, `${n}_rmlp`), `${n}_rmlp_mlp`)], `${n}_rmlp_out`);
}

type OpOf<K extends SubnetOp['op']> = Extract<SubnetOp, { op: K }>;

/** Each graph op's tfjs layers, by op kind: the one place a new op's LayersModel writer is registered. */
const opWriters: { [K in SubnetOp['op']]: (b: Builder, x: SymbolicTensor, o: OpOf<K>) => SymbolicTensor } = {
  dense: (b, x, o) => b.dense(x, o.weights, o.name),
  conv2d: (b, x, o) => {
    const layer = tf.layers.conv2d({ filters: o.outChannels, kernelSize: o.kernelSize, strides: o.stride, padding: 'same', useBias: o.bias !== null, name: b.name(o.name) });
    b.pending.push({
      layer,
      weights: () => [tf.tensor4d(o.kernel, [o.kernelSize, o.kernelSize, o.inChannels, o.outChannels]), ...(o.bias ? [tf.tensor1d(o.bias)] : [])],
    });
    return layer.apply(x) as SymbolicTensor;
  },
  batchNorm: (b, x, o) => {
    const layer = tf.layers.batchNormalization({ axis: -1, epsilon: o.epsilon, name: b.name(o.name) });
    b.pending.push({ layer, weights: () => [tf.tensor1d(o.gamma), tf.tensor1d(o.beta), tf.tensor1d(o.mean), tf.tensor1d(o.variance)] });
    return layer.apply(x) as SymbolicTensor;
  },
  activation: (b, x, o) => (o.fn === 'linear' ? x : (tf.layers.activation({ activation: o.fn as never, name: b.name(o.name) }).apply(x) as SymbolicTensor)),
  globalAvgPool: (b, x, o) => tf.layers.globalAveragePooling2d({ name: b.name(o.name) }).apply(x) as SymbolicTensor,
  flatten: (b, x, o) => tf.layers.flatten({ name: b.name(o.name) }).apply(x) as SymbolicTensor,
  tokenMean: (b, x, o) => tf.layers.globalAveragePooling1d({ name: b.name(o.name) }).apply(x) as SymbolicTensor,
  residual: (b, x, o) => b.add([x, opLayers(b, x, o.body)], `${o.name}_add`),
  moe: (b, x, o) => moeLayers(b, x, o),
  // The transformer ops in built-in layers (Embedding, LayerNormalization, Dot, Softmax, Concatenate).
  tokenEmbedding: (b, x, o) => b.add([embedding(b, x, o.table, o.vocab, o.dim, o.name), positionRows(b, x, o.length, o.positions, o.dim, `${o.name}_positions`)], `${o.name}_add`),
  patchEmbedding: (b, x, o) =>
    b.add([b.dense(x, o.weights, `${o.name}_proj`), positionRows(b, x, o.length, o.positions, o.weights.outDim, `${o.name}_positions`)], `${o.name}_add`),
  layerNorm: (b, x, o) => {
    const layer = tf.layers.layerNormalization({ axis: -1, epsilon: o.epsilon, name: b.name(o.name) });
    b.pending.push({ layer, weights: () => [tf.tensor1d(o.gamma), tf.tensor1d(o.beta)] });
    return layer.apply(x) as SymbolicTensor;
  },
  attention: (b, x, o) => attentionLayers(b, x, o),
};

/** An Embedding layer holding `table` [rows, cols]: ids [N, T] (floats holding integers) → [N, T, cols]. */
function embedding(b: Builder, ids: SymbolicTensor, table: Float32Array, rows: number, cols: number, name: string): SymbolicTensor {
  const layer = tf.layers.embedding({ inputDim: rows, outputDim: cols, name: b.name(name) });
  b.pending.push({ layer, weights: () => [tf.tensor2d(table, [rows, cols])] });
  return layer.apply(ids) as SymbolicTensor;
}

/**
 * Row t of `table` [T, cols] at every position t, as [N, T, cols]: the position ids 0…T−1 are a zero map of x
 * (any [N, …] tensor, flattened) plus a bias [0, 1, …, T−1], looked up in an Embedding — tfjs layers have no
 * constant-tensor add, and this keeps the weights small (a [features, T] zero kernel).
 */
function positionRows(b: Builder, x: SymbolicTensor, T: number, table: Float32Array, cols: number, name: string): SymbolicTensor {
  const flat = x.shape.length > 2 ? (tf.layers.flatten({ name: b.name(`${name}_flat`) }).apply(x) as SymbolicTensor) : x;
  const F = flat.shape[1]!;
  const ids = b.fixed(flat, new Float32Array(F * T), F, T, Float32Array.from({ length: T }, (_, i) => i), `${name}_ids`);
  return embedding(b, ids, table, T, cols, name);
}

/**
 * Multi-head self-attention on [N, T, d], one head at a time: q/k/v = x · (that head's columns) (1/√dₕ folded
 * into q's kernel and bias), scores = Dot(q, k) over dₕ [N, T, T], + the causal mask rows (positionRows of the
 * [T, T] mask table), Softmax over the keys, Dot(p, v) [N, T, dₕ]; the heads concatenated, · O + b.
 */
function attentionLayers(b: Builder, x: SymbolicTensor, o: OpOf<'attention'>): SymbolicTensor {
  const { heads: h, headDim: dh, length: T } = o;
  const head = (w: DenseWeights, i: number, scale: number): DenseWeights => {
    const kernel = new Float32Array(w.inDim * dh);
    for (let r = 0; r < w.inDim; r++) for (let c = 0; c < dh; c++) kernel[r * dh + c] = w.kernel[r * w.outDim + i * dh + c]! * scale;
    return { kernel, bias: w.bias ? w.bias.slice(i * dh, (i + 1) * dh).map((v) => v * scale) : null, inDim: w.inDim, outDim: dh };
  };
  let mask: SymbolicTensor | null = null;
  if (o.causal) {
    const m = new Float32Array(T * T);
    for (let i = 0; i < T; i++) for (let j = i + 1; j < T; j++) m[i * T + j] = o.maskValue;
    mask = positionRows(b, x, T, m, T, `${o.name}_mask`);
  }
  const outs = Array.from({ length: h }, (_, i) => {
    const n = `${o.name}_h${i}`;
    const q = b.dense(x, head(o.q, i, 1 / Math.sqrt(dh)), `${n}_q`);
    const k = b.dense(x, head(o.k, i, 1), `${n}_k`);
    const v = b.dense(x, head(o.v, i, 1), `${n}_v`);
    let scores = tf.layers.dot({ axes: [2, 2], name: b.name(`${n}_qk`) }).apply([q, k]) as SymbolicTensor;
    if (mask) scores = b.add([scores, mask], `${n}_masked`);
    const p = tf.layers.softmax({ axis: -1, name: b.name(`${n}_probs`) }).apply(scores) as SymbolicTensor;
    return tf.layers.dot({ axes: [2, 1], name: b.name(`${n}_pv`) }).apply([p, v]) as SymbolicTensor;
  });
  const merged = outs.length === 1 ? outs[0]! : (tf.layers.concatenate({ axis: -1, name: b.name(`${o.name}_merge`) }).apply(outs) as SymbolicTensor);
  return b.dense(merged, o.o, `${o.name}_o`);
}

function opLayers(b: Builder, x: SymbolicTensor, ops: readonly SubnetOp[]): SymbolicTensor {
  return ops.reduce((h, o) => (opWriters[o.op] as (b: Builder, x: SymbolicTensor, o: SubnetOp) => SymbolicTensor)(b, h, o), x);
}

/** Build the LayersModel of a subnet graph, with its weights set. Output: logits. */
export function buildLayersModel(graph: SubnetGraph, name = 'switchyard_subnet'): tf.LayersModel {
  const b = new Builder();
  const input = tf.input({ shape: inputShapeOf(graph.input), name: 'input' });
  const logits = opLayers(b, input, graph.ops);
  const model = tf.model({ inputs: input, outputs: logits, name });
  for (const p of b.pending) {
    const ws = p.weights();
    p.layer.setWeights(ws);
    tf.dispose(ws);
  }
  return model;
}

/** The two files tfjs's `browserFiles`/`http` loaders and our Node loader read. */
export const TFJS_FILES = { model: 'model.json', weights: 'weights.bin' } as const;

/** Save a LayersModel as model.json + weights.bin in `dir` (the layout `tf.io.http` serves). */
export async function saveLayersModel(model: tf.LayersModel, dir: string): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  let artifacts: tf.io.ModelArtifacts | null = null;
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      artifacts = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  const a = artifacts as unknown as tf.io.ModelArtifacts;
  const data = a.weightData;
  const bytes = Array.isArray(data)
    ? Buffer.concat(data.map((d) => Buffer.from(d)))
    : Buffer.from(data as ArrayBuffer);
  const json = {
    format: 'layers-model',
    generatedBy: a.generatedBy,
    convertedBy: 'switchyard',
    modelTopology: a.modelTopology,
    weightsManifest: [{ paths: [`./${TFJS_FILES.weights}`], weights: a.weightSpecs }],
  };
  await writeFile(join(dir, TFJS_FILES.model), JSON.stringify(json));
  await writeFile(join(dir, TFJS_FILES.weights), bytes);
  return [join(dir, TFJS_FILES.model), join(dir, TFJS_FILES.weights)];
}

/**
 * An IOHandler that reads model.json and its weight files from disk, for `tf.loadLayersModel` under
 * plain Node (the union package has no file:// loader).
 */
export function fileModelHandler(modelJsonPath: string): tf.io.IOHandler {
  return {
    async load() {
      const json = JSON.parse(await readFile(modelJsonPath, 'utf8')) as {
        modelTopology: object;
        weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
      };
      const base = modelJsonPath.slice(0, modelJsonPath.lastIndexOf('/') + 1);
      const buffers: Buffer[] = [];
      const specs: tf.io.WeightsManifestEntry[] = [];
      for (const group of json.weightsManifest) {
        for (const p of group.paths) buffers.push(await readFile(base + p.replace(/^\.\//, '')));
        specs.push(...group.weights);
      }
      const all = Buffer.concat(buffers);
      return {
        modelTopology: json.modelTopology,
        weightSpecs: specs,
        weightData: all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength) as ArrayBuffer,
      };
    },
  };
}
