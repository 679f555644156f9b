/**
 * Multi-head self-attention (core/nn/transformer/attention.ts) in the compiled step, at h of H heads and
 * width d: Q, K and V as one product over the three supernet kernels (the first d rows, the first h·dₕ
 * columns of each; ./linearStep.ts), softmax(QKᵀ/√dₕ (+ causal mask)) V per (sequence, head), then the
 * output projection (first h·dₕ rows, d columns of O) with the block's residual added in its store.
 *
 * The attention itself is one workgroup per (head, sequence), K and V staged in workgroup memory, a thread
 * per query row with its scores in two passes (max, then Σ exp and Σ p·v), and the row's log-sum-exp kept
 * for the backward, which recomputes P instead of storing B·h·T² probabilities (FlashAttention's
 * backward, Dao et al., 2022, without the tiling the small T here does not need):
 *   Dᵢ = dOᵢ·Oᵢ,  Pᵢⱼ = exp(Sᵢⱼ − lseᵢ),  dSᵢⱼ = Pᵢⱼ (dOᵢ·Vⱼ − Dᵢ),
 *   dQᵢ = Σⱼ dSᵢⱼ Kⱼ / √dₕ,  dKⱼ = Σᵢ dSᵢⱼ Qᵢ / √dₕ,  dVⱼ = Σᵢ Pᵢⱼ dOᵢ,
 * in one kernel: a thread per query row for dQ (K, V staged), then a thread per key row for dK and dV (Q,
 * dO, lse and D staged). Masked keys (j > i) are skipped: the product adds −1e9 to them, whose exp is 0 in
 * f32, so their probability and gradient are exactly zero there too.
 *
 * The per-row arrays are initialised explicitly (`array<f32, DH>()`): declared without an initialiser
 * inside the row loop, SwiftShader kept the previous row's sums for a thread's second row (T > 64).
 */
import type * as tf from '@tensorflow/tfjs';
import type { CompiledLayer, StepCompiler } from './compiler.js';
import { compileLinear } from './linearStep.js';

/** Workgroup memory a kernel may use (the guide's bound; SwiftShader has 16–32 KB, the H200 48 KB). */
export const WORKGROUP_BYTES = 16 * 1024;
const THREADS = 64;

export interface AttentionCoreSpec {
  name: string;
  B: number;
  T: number;
  heads: number;
  headDim: number;
  causal: boolean;
}

/** Why these shapes cannot run in the attention kernel, or null. */
export function attentionUnsupported(T: number, headDim: number): string | null {
  if (headDim > 64) return `head dimension ${headDim} > 64 is not compiled`;
  if (4 * (2 * T * headDim + 2 * T) > WORKGROUP_BYTES) return `${T} tokens × head dimension ${headDim} exceed the attention kernel's ${WORKGROUP_BYTES / 1024} KB of workgroup memory`;
  return null;
}

/** softmax(QKᵀ/√dₕ)V of `qkv` [B·T, 3·h·dₕ] (Q | K | V, heads as column blocks) → O [B·T, h·dₕ] and its backward. */
export function compileAttentionCore(c: StepCompiler, s: AttentionCoreSpec, qkv: GPUBuffer): { o: GPUBuffer; backward(dO: GPUBuffer): GPUBuffer } {
  const { B, T, heads, headDim: DH } = s;
  const inner = heads * DH;
  const rows = B * T;
  const o = c.buffer(rows * inner, `${s.name}.o`);
  const lse = c.buffer(B * heads * T, `${s.name}.lse`);
  const params = [['heads', 'u32', heads], ['inner', 'u32', inner], ['scale', 'f32', 1 / Math.sqrt(DH)]] as const;
  // T and dₕ size the workgroup and private arrays: constants of the shader.
  const consts = `const T = ${T}u;\nconst DH = ${DH}u;\nconst CAUSAL = ${s.causal};`;
  // Row (b, t) of Q, K or V (part 0, 1, 2) at head hd: the first of its dₕ columns.
  const at = `fn at(b: u32, t: u32, part: u32, hd: u32) -> u32 { return (b * T + t) * 3u * u.inner + part * u.inner + hd * DH; }`;
  // Both kernels: a workgroup per (head, sequence) with two [T, dₕ] tiles S1, S2 of the sequence's rows.
  const prologue = `${consts}
${at}
var<workgroup> S1: array<f32, ${T * DH}>;
var<workgroup> S2: array<f32, ${T * DH}>;
@compute @workgroup_size(${THREADS}, 1, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let hd = wg.x;
  let b = wg.y;`;
  // Fill S1 and S2 with the expressions of row t, column c (the head's dₕ columns), then wait for them.
  const stage = (s1: string, s2: string) => `  for (var e = lid.x; e < T * DH; e += ${THREADS}u) {
    let t = e / DH;
    let c = e % DH;
    S1[e] = ${s1};
    S2[e] = ${s2};
  }
  workgroupBarrier();`;
  c.program.dispatch(`${s.name}.forward`, {
    params,
    bindings: [
      { name: 'QKV', buffer: qkv },
      { name: 'O', buffer: o, access: 'read_write' },
      { name: 'LSE', buffer: lse, access: 'read_write' },
    ],
    code: `${prologue}
${stage('QKV[at(b, t, 1u, hd) + c]', 'QKV[at(b, t, 2u, hd) + c]')}
  for (var i = lid.x; i < T; i += ${THREADS}u) {
    var q = array<f32, DH>();
    let qa = at(b, i, 0u, hd);
    for (var c = 0u; c < DH; c++) { q[c] = QKV[qa + c]; }
    let jEnd = select(T, i + 1u, CAUSAL);
    var mx = -3.402823e38;
    for (var j = 0u; j < jEnd; j++) {
      var dot = 0.0;
      for (var c = 0u; c < DH; c++) { dot += q[c] * S1[j * DH + c]; }
      mx = max(mx, dot * u.scale);
    }
    var l = 0.0;
    var acc = array<f32, DH>();
    for (var j = 0u; j < jEnd; j++) {
      var dot = 0.0;
      for (var c = 0u; c < DH; c++) { dot += q[c] * S1[j * DH + c]; }
      let e = exp(dot * u.scale - mx);
      l += e;
      for (var c = 0u; c < DH; c++) { acc[c] += e * S2[j * DH + c]; }
    }
    let oa = (b * T + i) * u.inner + hd * DH;
    for (var c = 0u; c < DH; c++) { O[oa + c] = acc[c] / l; }
    LSE[(b * u.heads + hd) * T + i] = mx + log(l);
  }
}`,
    workgroups: [heads, B],
  });
  return {
    o,
    backward(dO) {
      const dqkv = c.buffer(rows * 3 * inner, `${s.name}.dqkv`);
      c.program.dispatch(`${s.name}.backward`, {
        params,
        bindings: [
          { name: 'QKV', buffer: qkv },
          { name: 'O', buffer: o },
          { name: 'LSE', buffer: lse },
          { name: 'DO', buffer: dO },
          { name: 'DQKV', buffer: dqkv, access: 'read_write' },
        ],
        // Phase 1 stages K and V, phase 2 Q and dO in the same memory.
        code: `var<workgroup> Ls: array<f32, ${T}>;
var<workgroup> Ds: array<f32, ${T}>;
${prologue}
${stage('QKV[at(b, t, 1u, hd) + c]', 'QKV[at(b, t, 2u, hd) + c]')}
  // dQ: a thread per query row i.
  for (var i = lid.x; i < T; i += ${THREADS}u) {
    var q = array<f32, DH>();
    var g = array<f32, DH>();
    var dq = array<f32, DH>();
    let qa = at(b, i, 0u, hd);
    let oa = (b * T + i) * u.inner + hd * DH;
    var D = 0.0;
    for (var c = 0u; c < DH; c++) { q[c] = QKV[qa + c]; g[c] = DO[oa + c]; D += g[c] * O[oa + c]; }
    let L = LSE[(b * u.heads + hd) * T + i];
    Ls[i] = L;
    Ds[i] = D;
    let jEnd = select(T, i + 1u, CAUSAL);
    for (var j = 0u; j < jEnd; j++) {
      var dot = 0.0;
      var dp = 0.0;
      for (var c = 0u; c < DH; c++) { dot += q[c] * S1[j * DH + c]; dp += g[c] * S2[j * DH + c]; }
      let ds = exp(dot * u.scale - L) * (dp - D);
      for (var c = 0u; c < DH; c++) { dq[c] += ds * S1[j * DH + c]; }
    }
    for (var c = 0u; c < DH; c++) { DQKV[qa + c] = dq[c] * u.scale; }
  }
  workgroupBarrier();
${stage('QKV[at(b, t, 0u, hd) + c]', 'DO[(b * T + t) * u.inner + hd * DH + c]')}
  // dK, dV: a thread per key row j.
  for (var j = lid.x; j < T; j += ${THREADS}u) {
    var k = array<f32, DH>();
    var v = array<f32, DH>();
    var dk = array<f32, DH>();
    var dv = array<f32, DH>();
    let ka = at(b, j, 1u, hd);
    let va = at(b, j, 2u, hd);
    for (var c = 0u; c < DH; c++) { k[c] = QKV[ka + c]; v[c] = QKV[va + c]; }
    let iBegin = select(0u, j, CAUSAL);
    for (var i = iBegin; i < T; i++) {
      var dot = 0.0;
      var dp = 0.0;
      for (var c = 0u; c < DH; c++) { dot += S1[i * DH + c] * k[c]; dp += S2[i * DH + c] * v[c]; }
      let pr = exp(dot * u.scale - Ls[i]);
      let ds = pr * (dp - Ds[i]);
      for (var c = 0u; c < DH; c++) { dk[c] += ds * S1[i * DH + c]; dv[c] += pr * S2[i * DH + c]; }
    }
    for (var c = 0u; c < DH; c++) { DQKV[ka + c] = dk[c] * u.scale; DQKV[va + c] = dv[c]; }
  }
}`,
        workgroups: [heads, B],
      });
      return dqkv;
    },
  };
}

export interface AttentionSpec {
  name: string;
  B: number;
  T: number;
  d: number;
  heads: number;
  headDim: number;
  causal: boolean;
  wq: tf.Variable;
  bq: tf.Variable;
  wk: tf.Variable;
  bk: tf.Variable;
  wv: tf.Variable;
  bv: tf.Variable;
  wo: tf.Variable;
  bo: tf.Variable;
}

/**
 * Record residual + Attn(x): x [B·T, d] the normalised stream, `residual` [B·T, d] the stream added to the
 * output. The layer's backward returns dx of the attention's input only (the residual's gradient is dy).
 */
export function compileAttention(c: StepCompiler, s: AttentionSpec, x: GPUBuffer, residual: GPUBuffer): { y: GPUBuffer; layer: CompiledLayer } {
  const rows = s.B * s.T;
  const inner = s.heads * s.headDim;
  const qkv = compileLinear(c, { name: `${s.name}.qkv`, rows, d: s.d, act: 'linear', groups: [{ kernel: s.wq, bias: s.bq, w: inner }, { kernel: s.wk, bias: s.bk, w: inner }, { kernel: s.wv, bias: s.bv, w: inner }] }, x);
  const core = compileAttentionCore(c, s, qkv.y);
  const out = compileLinear(c, { name: `${s.name}.o`, rows, d: inner, act: 'linear', groups: [{ kernel: s.wo, bias: s.bo, w: s.d }], add: { buffer: residual, index: 'm * u.nc + n' } }, core.o);
  return {
    y: out.y,
    layer: {
      backward(dy, needDx) {
        const dO = out.layer.backward(dy, true)!;
        return qkv.layer.backward(core.backward(dO), needDx);
      },
    },
  };
}
