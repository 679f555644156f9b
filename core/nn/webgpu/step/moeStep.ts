/**
 * The MoE block in the compiled step (issue 18): core/nn/moe/MoELayer.ts `apply` with training: true for a
 * plain top-k block — softmax router x·W_r, each token's k most probable experts (ties to the lower
 * index, as tf.topk), capacity in GShard rank or token priority (core/nn/moe/routers.ts
 * capacityMaskTensor, the capacity core/nn/routers/router.ts `route` computes), gates raw (k = 1) or
 * renormalised over the chosen experts before drops (the masked softmax of routers.ts renormalizedGates),
 * ReLU / GELU experts at the elastic hidden width (the first h of hMax units), the residual, and the
 * Switch balance loss S·Σ f_e·P_e × auxLossWeight with its gradient into the router (Fedus et al., 2021).
 * The layer report (load, dropped, entropy, auxLoss, meanActive) is written into the step's stats buffer
 * in the trainer's packing (core/train/Trainer.ts), computed as MoELayer's `report`.
 *
 * Dense-masked dispatch: every expert runs on every token and a token–expert pair that was not chosen or
 * was dropped has gate 0 (MoELayer's own 'dense' dispatch). The output and every gradient equal the sparse
 * route's: an unrouted pair adds g·out = 0 to y, and its terms in dW, db, dx and d logits are products
 * with that 0 gate (or with a dH that is 0 through it), so they add exact zeros — an expert that got no
 * token gets an all-zero gradient, which the lazy update leaves untouched, as the tfjs path leaves a
 * variable without a gradient. At the sizes of the example spaces (T ≤ 2048, E ≤ 8, d ≤ 128, h ≤ 256) the
 * E/k-fold FLOPs cost less than the dispatches a gather and scatter would add.
 *
 * Dispatches (E experts; WebGPU allows 8 storage buffers per kernel and every expert variable is its own
 * buffer, so experts are grouped as far as bindings allow; Adam's update site binds 4 buffers, so each
 * updated variable has a kernel of its own):
 *   forward  router (logits, softmax, top-k, gates before capacity) · route (one workgroup: capacity
 *            scans, kept gates, the report, the balance-loss gradient) · up-projections ⌈E/3⌉ ·
 *            down-projections ⌈E/2⌉ (gate folded into the loads, biases as extra K rows, y = x + Σ)
 *   backward dH ⌈E/2⌉ (also the gate gradients' parts) · d logits · dx (4 experts and the router in the
 *            first kernel, 6 in each further one; none for a first layer) · router dW ·
 *            4 per expert (dW2, db2, dW1, db1, each with its optimizer update)
 * For E = 8: 9 forward, 40 backward.
 */
import type * as tf from '@tensorflow/tfjs';
import type { BlockChoice } from '../../../space/SearchSpace.js';
import type { MoELayer } from '../../moe/MoELayer.js';
import { gateCombination } from '../../moe/routers.js';
import type { Act, CompiledForward, CompiledLayer, MoEReportSlot, StepCompiler } from './compiler.js';
import { recordColumnSum } from './columnSumStep.js';
import { ACTIVATION_WGSL } from './denseStep.js';
import { recordMatmul, splitKFor } from './matmul.js';
import type { Binding, Param } from './program.js';

/** Most experts the route kernel's per-thread arrays and scans hold (8 × 256 u32 = 8 KB of workgroup memory). */
export const MAX_COMPILED_EXPERTS = 8;

/** Floats of an MoE report: load (one per expert), dropped, entropy, auxLoss, meanActive. */
export const moeReportLength = (experts: number) => experts + 4;

/** The numbers of one MoE report, from `StepStats.reports` (core/nn/webgpu/step/compiledStep.ts). */
export interface MoEReportNumbers {
  load: number[];
  dropped: number;
  entropy: number;
  auxLoss: number;
  meanActive: number;
}

/**
 * Read a report out of the whole stats buffer (`StepStats.all`) at its slot (StepCompiler.moeReports), in
 * the order the trainer packs a layer: [load × E, dropped, entropy, auxLoss, meanActive].
 */
export function readMoEReport(r: MoEReportSlot, all: Float32Array): MoEReportNumbers {
  const E = r.expertNames.length;
  const v = all.subarray(r.offset, r.offset + moeReportLength(E));
  return { load: Array.from(v.subarray(0, E)), dropped: v[E]!, entropy: v[E + 1]!, auxLoss: v[E + 2]!, meanActive: v[E + 3]! };
}

export interface MoEStepSpec {
  name: string;
  /** [dMax, S] router kernel (S = E columns: no special experts). */
  router: tf.Variable;
  experts: { w1: tf.Variable; b1: tf.Variable; w2: tf.Variable; b2: tf.Variable }[];
  expertNames: string[];
  /** Tokens: B, or B·T of a sequence. */
  rows: number;
  d: number;
  /** Expert hidden width of this choice (≤ hMax, the variables' width). */
  h: number;
  /** Experts each token chooses (≤ E) and the k the capacity uses (the router's activeK). */
  k: number;
  kCapacity: number;
  act: 'relu' | 'gelu';
  gate: 'raw' | 'renormalize';
  capacityFactor: number | null;
  priority: 'rank' | 'token';
  auxLossWeight: number;
  residual: boolean;
}

/**
 * Why `layer` at `choice` is not compiled (null: it is): everything but a plain top-k block of ReLU / GELU
 * FFN experts takes the tfjs path.
 */
export function moeNotCompiled(layer: MoELayer, choice: BlockChoice): string | null {
  const b = layer.block;
  const why = (what: string) => `${layer.name}: ${what} ${/s$/.test(what) ? 'are' : 'is'} not compiled`;
  if (b.routing.mode !== 'topk') return why(`${b.routing.mode} routing`);
  if (layer.selectionBias) return why('the loss-free selection bias');
  if (layer.routerParams) return why("the router's own variables");
  if (b.sharedExperts > 0) return why('shared experts');
  if (b.nullExperts > 0) return why('null experts');
  if (b.zeroExperts > 0) return why('zero experts');
  if (b.copyExperts > 0) return why('copy experts');
  if (b.constantExperts > 0) return why('constant experts');
  if (b.residualMlp) return why('the residual MLP');
  if (b.iterations > 1) return why('Chain-of-Experts iterations');
  if (b.momentum) return why('MomentumSMoE');
  if (b.gatingResidual) return why('gating residuals');
  if (b.routerJitter > 0) return why('router jitter (noise while training)');
  if (b.zLossWeight > 0) return why('the router z-loss');
  if (b.segments > 1) return why('fine-grained expert segments');
  if (layer.weakRanks) return why("SCMoE's weak activation");
  if (choice.bits !== undefined && choice.bits < 32) return why('fake-quantised experts');
  if (choice.experts !== undefined && choice.experts !== b.experts) return why('an expert-count (PR-MoE) choice');
  if (b.activation !== 'relu' && b.activation !== 'gelu') return why(`${b.activation} experts`);
  if (layer.routedExperts > MAX_COMPILED_EXPERTS) return why(`more than ${MAX_COMPILED_EXPERTS} experts`);
  if (layer.slots !== layer.routedExperts) return why('router columns beyond the FFN experts');
  return null;
}

/** The compiled step of an MoE block (core/nn/blocks/moe.ts `compile`). */
export function compileMoEBlock(layer: MoELayer, choice: BlockChoice, x: Act, c: StepCompiler): CompiledForward | string {
  const no = moeNotCompiled(layer, choice);
  if (no) return no;
  const b = layer.block;
  const E = layer.routedExperts;
  const kCapacity = layer.activeK({ training: true });
  const spec: MoEStepSpec = {
    name: layer.name,
    router: layer.router,
    experts: layer.experts,
    expertNames: layer.expertNames,
    rows: c.batch * x.shape.length,
    d: x.shape.width,
    h: choice.expertHidden!,
    k: Math.min(kCapacity, E),
    kCapacity,
    act: b.activation as 'relu' | 'gelu',
    gate: gateCombination(b) === 'renormalize' ? 'renormalize' : 'raw',
    capacityFactor: b.capacityFactor,
    priority: b.capacityPriority,
    auxLossWeight: b.auxLossWeight,
    residual: b.residual,
  };
  const { y, layer: compiled } = compileMoE(c, spec, x.buffer);
  return { out: { buffer: y, shape: x.shape }, layer: compiled };
}

/** Consecutive groups of at most `size` experts: [first, count]. */
function groups(E: number, size: number): [number, number][] {
  const out: [number, number][] = [];
  for (let e0 = 0; e0 < E; e0 += size) out.push([e0, Math.min(size, E - e0)]);
  return out;
}

/** `fn <fn>(e: u32, i: u32) -> f32` reading element i of the e-th of `names` (bindings of one kernel). */
function selector(fn: string, names: readonly string[]): string {
  const branches = names.slice(0, -1).map((n, e) => `if (e == ${e}u) { return ${n}[i]; }`).join(' ');
  return `fn ${fn}(e: u32, i: u32) -> f32 { ${branches} return ${names[names.length - 1]}[i]; }`;
}

/** Split-K for a weight gradient whose K is the batch (denseStep's rule). */

/**
 * Record the forward of the MoE layer on x ([rows, d]); returns y and the layer (its backward). Its report
 * is registered with the compiler (StepCompiler.moeReport), in forward order.
 */
export function compileMoE(c: StepCompiler, s: MoEStepSpec, x: GPUBuffer): { y: GPUBuffer; layer: CompiledLayer } {
  const { rows: T, d, h, k, act } = s;
  const E = s.experts.length;
  if (E > MAX_COMPILED_EXPERTS || k > E || k < 1) throw new Error(`${s.name}: compiled MoE needs 1 ≤ k ≤ E ≤ ${MAX_COMPILED_EXPERTS} (k ${k}, E ${E})`);
  const S = s.router.shape[1]!;
  const dMax = s.router.shape[0]!;
  const hMax = s.experts[0]!.w1.shape[1]!;
  if (S !== E) throw new Error(`${s.name}: compiled MoE routes over FFN experts only (${S} router columns, ${E} experts)`);
  if (d > dMax || h > hMax) throw new Error(`${s.name}: width ${d} / hidden ${h} exceed the allocated ${dMax} / ${hMax}`);
  const p = c.program;
  const gelu = act === 'gelu';
  const ETh = E * T * h;

  // Routing scratch, one buffer (bindings are the scarce resource): probabilities P [T, E], kept gates
  // G [T, E], per token and choice rank the expert index, its gate before capacity and whether it is kept
  // [T, k] each, and the balance loss' d/dP [E].
  const o = { P: 0, G: T * E, I: 2 * T * E, Q: 2 * T * E + T * k, K: 2 * T * E + 2 * T * k, B: 2 * T * E + 3 * T * k };
  const rt = c.buffer(o.B + E, `${s.name}.route`);
  // Expert activations [E, T, h] (and GELU's pre-activations after them).
  const hs = c.buffer(gelu ? 2 * ETh : ETh, `${s.name}.hidden`);
  const y = c.buffer(T * d, `${s.name}.y`);
  const WR = c.read(s.router);
  // Bindings `<name>_0`, `<name>_1`, … for one part of experts e0 … e0 + n − 1.
  const parts = (part: 'w1' | 'b1' | 'w2' | 'b2', name: string, e0: number, n: number): Binding[] =>
    s.experts.slice(e0, e0 + n).map((e, j) => ({ name: `${name}_${j}`, buffer: c.read(e[part]) }));
  const at = c.report(moeReportLength(E));
  c.moeReport({ layer: s.name, expertNames: [...s.expertNames], alwaysOn: [], offset: at });

  const shape: Param[] = [['T', 'u32', T], ['E', 'u32', E], ['k', 'u32', k], ['d', 'u32', d], ['h', 'u32', h], ['hMax', 'u32', hMax], ['dMax', 'u32', dMax], ['S', 'u32', S]];
  const offs: Param[] = [['oP', 'u32', o.P], ['oG', 'u32', o.G], ['oI', 'u32', o.I], ['oQ', 'u32', o.Q], ['oK', 'u32', o.K], ['oB', 'u32', o.B], ['oZ', 'u32', ETh]];

  // 1. Router: per token, logits, softmax, the top k (ties to the lower index, as tf.topk) and their gates
  //    before capacity: raw probabilities, or renormalised over the chosen — the masked softmax of
  //    renormalizedGates, exp(l_i − max chosen l) / Σ_chosen.
  p.dispatch(`${s.name}.router`, {
    params: [...shape, ...offs],
    bindings: [{ name: 'X', buffer: x }, { name: 'WR', buffer: WR }, { name: 'RT', buffer: rt, access: 'read_write' }],
    code: `
@compute @workgroup_size(64, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let t = gid.x;
  if (t >= u.T) { return; }
  var l = array<f32, 8>();
  for (var i = 0u; i < u.d; i++) {
    let xv = X[t * u.d + i];
    for (var e = 0u; e < u.E; e++) { l[e] += xv * WR[i * u.S + e]; }
  }
  var mx = l[0];
  for (var e = 1u; e < u.E; e++) { mx = max(mx, l[e]); }
  var p = array<f32, 8>();
  var sum = 0.0;
  for (var e = 0u; e < u.E; e++) { p[e] = exp(l[e] - mx); sum += p[e]; }
  for (var e = 0u; e < u.E; e++) { p[e] = p[e] / sum; RT[u.oP + t * u.E + e] = p[e]; }
  var taken = array<bool, 8>();
  var idx = array<u32, 8>();
  for (var r = 0u; r < u.k; r++) {
    var best = u.E;
    var bv = 0.0;
    for (var e = 0u; e < u.E; e++) {
      if (!taken[e] && (best == u.E || p[e] > bv)) { best = e; bv = p[e]; }
    }
    taken[best] = true;
    idx[r] = best;
    RT[u.oI + t * u.k + r] = f32(best);
  }
  ${
    s.gate === 'raw'
      ? 'for (var r = 0u; r < u.k; r++) { RT[u.oQ + t * u.k + r] = p[idx[r]]; }'
      : `var mc = l[idx[0]];
  for (var r = 1u; r < u.k; r++) { mc = max(mc, l[idx[r]]); }
  var qs = 0.0;
  for (var r = 0u; r < u.k; r++) { qs += exp(l[idx[r]] - mc); }
  for (var r = 0u; r < u.k; r++) { RT[u.oQ + t * u.k + r] = exp(l[idx[r]] - mc) / qs; }`
  }
}`,
    workgroups: [Math.ceil(T / 64)],
  });

  // 2. Route, one workgroup of 256 threads over contiguous token chunks: an assignment's position at its
  //    expert is the count of assignments before it in priority order — 'rank': every token's first choice
  //    in token order, then every second choice (GShard, Lepikhin et al., 2021); 'token': token order —
  //    from a per-expert scan of the threads' counts; kept while position < capacity. Capacity as
  //    route() computes it in float32, ceil(k · fl(cf·T/E)) (FFN experts only: every column here).
  const cap = s.capacityFactor === null ? 0xffffffff : Math.ceil(Math.fround(s.kCapacity * Math.fround((s.capacityFactor * T) / E)));
  p.dispatch(`${s.name}.route`, {
    params: [...shape, ...offs, ['cap', 'u32', cap], ['rank', 'u32', s.priority === 'rank' ? 1 : 0], ['auxW', 'f32', s.auxLossWeight], ['at', 'u32', at]],
    bindings: [{ name: 'RT', buffer: rt, access: 'read_write' }, { name: 'STATS', buffer: c.stats, access: 'read_write' }],
    code: `
var<workgroup> sc: array<u32, ${MAX_COMPILED_EXPERTS * 256}>;
var<workgroup> red: array<f32, 256>;
var<workgroup> red2: array<f32, 256>;
// Inclusive scan over the 256 threads of sc[e·256 + thread], every expert e at once (Hillis–Steele).
fn scan(lid: u32) {
  for (var off = 1u; off < 256u; off <<= 1u) {
    var v = array<u32, 8>();
    if (lid >= off) { for (var e = 0u; e < u.E; e++) { v[e] = sc[e * 256u + lid - off]; } }
    workgroupBarrier();
    for (var e = 0u; e < u.E; e++) { sc[e * 256u + lid] += v[e]; }
    workgroupBarrier();
  }
}
@compute @workgroup_size(256, 1, 1)
fn main(@builtin(local_invocation_id) li: vec3<u32>) {
  let lid = li.x;
  let chunk = (u.T + 255u) / 256u;
  let t0 = min(u.T, lid * chunk);
  let t1 = min(u.T, t0 + chunk);
  for (var t = t0; t < t1; t++) { for (var e = 0u; e < u.E; e++) { RT[u.oG + t * u.E + e] = 0.0; } }
  var filled = array<u32, 8>();
  var kept = 0u;
  let passes = select(1u, u.k, u.rank == 1u);
  for (var ps0 = 0u; ps0 < passes; ps0++) {
    let r0 = select(0u, ps0, u.rank == 1u);
    let r1 = select(u.k, ps0 + 1u, u.rank == 1u);
    // Explicitly zeroed, as every var here: Dawn's Tint → SPIR-V path (SwiftShader in the tests) does not
    // re-zero a loop-body "var x: T;" each iteration, as WGSL says it should (it keeps the last value).
    var cnt = array<u32, 8>();
    for (var t = t0; t < t1; t++) { for (var r = r0; r < r1; r++) { cnt[u32(RT[u.oI + t * u.k + r])] += 1u; } }
    for (var e = 0u; e < u.E; e++) { sc[e * 256u + lid] = cnt[e]; }
    workgroupBarrier();
    scan(lid);
    var run = array<u32, 8>();
    for (var e = 0u; e < u.E; e++) { run[e] = filled[e] + sc[e * 256u + lid] - cnt[e]; }
    for (var t = t0; t < t1; t++) {
      for (var r = r0; r < r1; r++) {
        let e = u32(RT[u.oI + t * u.k + r]);
        let keep = run[e] < u.cap;
        run[e] += 1u;
        RT[u.oK + t * u.k + r] = select(0.0, 1.0, keep);
        if (keep) { RT[u.oG + t * u.E + e] = RT[u.oQ + t * u.k + r]; kept += 1u; }
      }
    }
    for (var e = 0u; e < u.E; e++) { filled[e] += sc[e * 256u + 255u]; }
    workgroupBarrier();
  }
  // The report (MoELayer.report): per-expert probability sums, entropy −Σ p·log(p + 1e-9), kept count.
  var ps = array<f32, 8>();
  var ent = 0.0;
  for (var t = t0; t < t1; t++) {
    for (var e = 0u; e < u.E; e++) { let pv = RT[u.oP + t * u.E + e]; ps[e] += pv; ent -= pv * log(pv + 1e-9); }
  }
  for (var e = 0u; e < u.E; e++) { sc[e * 256u + lid] = bitcast<u32>(ps[e]); }
  red[lid] = ent;
  red2[lid] = f32(kept);
  workgroupBarrier();
  for (var w = 128u; w > 0u; w >>= 1u) {
    if (lid < w) {
      for (var e = 0u; e < u.E; e++) { sc[e * 256u + lid] = bitcast<u32>(bitcast<f32>(sc[e * 256u + lid]) + bitcast<f32>(sc[e * 256u + lid + w])); }
      red[lid] += red[lid + w];
      red2[lid] += red2[lid + w];
    }
    workgroupBarrier();
  }
  if (lid == 0u) {
    var total = 0u;
    for (var e = 0u; e < u.E; e++) { total += filled[e]; }
    let denom = f32(max(total, 1u));
    let Tf = f32(u.T);
    var bal = 0.0;
    for (var e = 0u; e < u.E; e++) {
      // f_e: the fraction of assignments (before drops) = the reported load; P_e: mean probability.
      let f = f32(filled[e]) / denom;
      STATS[u.at + e] = f;
      bal += f * (bitcast<f32>(sc[e * 256u]) / Tf);
      // d(auxW · S·Σ f·P)/d p[t, e] (f carries no gradient).
      RT[u.oB + e] = u.auxW * f32(u.S) * f / Tf;
    }
    let keptAll = red2[0];
    STATS[u.at + u.E] = (f32(total) - keptAll) / denom;
    STATS[u.at + u.E + 1u] = red[0] / Tf;
    STATS[u.at + u.E + 2u] = f32(u.S) * bal;
    STATS[u.at + u.E + 3u] = keptAll / Tf;
  }
}`,
    workgroups: [1],
  });

  // 3. Up-projections, three experts per kernel (X, the hidden buffer and each expert's W1, b1): their
  //    hidden units side by side along N, H_e = act(x·W1_e[:d, :h] + b1_e[:h]).
  const zStore = gelu ? ' HS[u.oZ + i] = z;' : '';
  for (const [e0, n] of groups(E, 3)) {
    const w1 = parts('w1', 'W1', e0, n);
    const b1 = parts('b1', 'B1', e0, n);
    recordMatmul(p, `${s.name}.up${e0}`, {
      M: T,
      N: n * h,
      K: d,
      a: 'X[m * u.d + k]',
      b: 'w1at(n / u.h, k * u.hMax + n % u.h)',
      helpers: `${ACTIVATION_WGSL}\n${selector('w1at', w1.map((b) => b.name))}\n${selector('b1at', b1.map((b) => b.name))}`,
      store: `let e = n / u.h; let j = n % u.h; let z = acc + b1at(e, j); let i = (u.e0 + e) * u.T * u.h + m * u.h + j; HS[i] = act_${act}(z);${zStore}`,
      params: [...shape, ['e0', 'u32', e0], ['oZ', 'u32', ETh]],
      loadBindings: [{ name: 'X', buffer: x }, ...w1],
      storeBindings: [...b1, { name: 'HS', buffer: hs, access: 'read_write' }],
    });
  }

  // 4. Down-projections and the combination, two experts per kernel: y = x + Σ_e g_e·(H_e·W2_e + b2_e) as
  //    one product over K = [H_e·g_e for each expert | g_e], B = [W2_e | b2_e rows]; later groups add.
  for (const [gi, [e0, n]] of groups(E, 2).entries()) {
    const w2 = parts('w2', 'W2', e0, n);
    const b2 = parts('b2', 'B2', e0, n);
    const first = gi === 0;
    const store = first ? (s.residual ? 'Y[m * u.d + n] = acc + X[m * u.d + n];' : 'Y[m * u.d + n] = acc;') : 'Y[m * u.d + n] = Y[m * u.d + n] + acc;';
    recordMatmul(p, `${s.name}.down${e0}`, {
      M: T,
      N: d,
      K: n * h + n,
      a: 'downA(m, k)',
      b: 'downB(k, n)',
      helpers: `${selector('w2at', w2.map((b) => b.name))}
${selector('b2at', b2.map((b) => b.name))}
fn downA(m: u32, k: u32) -> f32 {
  let nh = u.ng * u.h;
  if (k < nh) { let e = u.e0 + k / u.h; return RT[u.oG + m * u.E + e] * HS[e * u.T * u.h + m * u.h + k % u.h]; }
  return RT[u.oG + m * u.E + u.e0 + k - nh];
}
fn downB(k: u32, n: u32) -> f32 {
  let nh = u.ng * u.h;
  if (k < nh) { return w2at(k / u.h, (k % u.h) * u.dMax + n); }
  return b2at(k - nh, n);
}`,
      store,
      params: [...shape, ['e0', 'u32', e0], ['ng', 'u32', n], ['oG', 'u32', o.G]],
      loadBindings: [{ name: 'RT', buffer: rt }, { name: 'HS', buffer: hs }, ...w2, ...b2],
      storeBindings: [...(first && s.residual ? [{ name: 'X', buffer: x }] : []), { name: 'Y', buffer: y, access: 'read_write' as const }],
    });
  }

  const layer: CompiledLayer = {
    backward(dy, needDx) {
      // Backward scratch, one buffer: dH [E, T, h], H ⊙ (dy·W2ᵀ) [E, T, h] and dy·b2 [E, T] (whose sums
      // are the gate gradients dL/dg_e = dy·(H_e·W2_e + b2_e)), d logits [T, E].
      const ob = { DH: 0, PH: ETh, PB: 2 * ETh, DL: 2 * ETh + E * T };
      const bw = c.buffer(ob.DL + T * E, `${s.name}.backward`);
      const dact = act === 'gelu' ? 'dact_gelu(HS[u.oZ + i])' : 'dact_relu(hv)';

      // 5. dH, two experts per kernel: G_e = dy·[W2_eᵀ | b2_e] along N; dH_e = g_e·G_e ⊙ act′, and the
      //    gate gradient's parts H_e ⊙ G_e and dy·b2_e. Reads W2, b2 before their updates (step 9).
      for (const [e0, n] of groups(E, 2)) {
        const w2 = parts('w2', 'W2', e0, n);
        const b2 = parts('b2', 'B2', e0, n);
        recordMatmul(p, `${s.name}.dH${e0}`, {
          M: T,
          N: n * (h + 1),
          K: d,
          a: 'DY[m * u.d + k]',
          b: 'dhB(k, n)',
          bFast: 'k',
          helpers: `${ACTIVATION_WGSL}
${selector('w2at', w2.map((b) => b.name))}
${selector('b2at', b2.map((b) => b.name))}
fn dhB(k: u32, n: u32) -> f32 {
  let e = n / (u.h + 1u);
  let j = n % (u.h + 1u);
  if (j < u.h) { return w2at(e, j * u.dMax + k); }
  return b2at(e, k);
}`,
          store: `let e = u.e0 + n / (u.h + 1u); let j = n % (u.h + 1u);
  if (j < u.h) {
    let i = e * u.T * u.h + m * u.h + j;
    let hv = HS[i];
    BW[u.oPH + i] = hv * acc;
    BW[i] = RT[u.oG + m * u.E + e] * acc * ${dact};
  } else { BW[u.oPB + e * u.T + m] = acc; }`,
          params: [...shape, ['e0', 'u32', e0], ['oG', 'u32', o.G], ['oZ', 'u32', ETh], ['oPH', 'u32', ob.PH], ['oPB', 'u32', ob.PB]],
          loadBindings: [{ name: 'DY', buffer: dy }, ...w2, ...b2],
          storeBindings: [{ name: 'RT', buffer: rt }, { name: 'HS', buffer: hs }, { name: 'BW', buffer: bw, access: 'read_write' }],
        });
      }

      // 6. d logits per token: gate gradients of the kept choices, then through the gates — raw: p·kept;
      //    renormalised: the masked softmax q over the chosen (dropped ones included), ×kept — and the
      //    balance loss' d/dp through the full softmax.
      const gatePart =
        s.gate === 'raw'
          ? `for (var r = 0u; r < u.k; r++) {
    if (RT[u.oK + t * u.k + r] > 0.5) { let e = u32(RT[u.oI + t * u.k + r]); dp[e] += gateGrad(e, t); }
  }
  var sp = 0.0;
  for (var e = 0u; e < u.E; e++) { sp += p[e] * dp[e]; }
  for (var e = 0u; e < u.E; e++) { dl[e] = p[e] * (dp[e] - sp); }`
          : `var sp = 0.0;
  for (var e = 0u; e < u.E; e++) { sp += p[e] * dp[e]; }
  for (var e = 0u; e < u.E; e++) { dl[e] = p[e] * (dp[e] - sp); }
  var dg = array<f32, 8>();
  var sq = 0.0;
  for (var r = 0u; r < u.k; r++) {
    if (RT[u.oK + t * u.k + r] > 0.5) { dg[r] = gateGrad(u32(RT[u.oI + t * u.k + r]), t); }
    sq += RT[u.oQ + t * u.k + r] * dg[r];
  }
  for (var r = 0u; r < u.k; r++) { let e = u32(RT[u.oI + t * u.k + r]); dl[e] += RT[u.oQ + t * u.k + r] * (dg[r] - sq); }`;
      p.dispatch(`${s.name}.dlogits`, {
        params: [...shape, ...offs, ['oPH', 'u32', ob.PH], ['oPB', 'u32', ob.PB], ['oDL', 'u32', ob.DL]],
        bindings: [{ name: 'RT', buffer: rt }, { name: 'BW', buffer: bw, access: 'read_write' }],
        code: `
fn gateGrad(e: u32, t: u32) -> f32 {
  var s = BW[u.oPB + e * u.T + t];
  let base = u.oPH + e * u.T * u.h + t * u.h;
  for (var j = 0u; j < u.h; j++) { s += BW[base + j]; }
  return s;
}
@compute @workgroup_size(64, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let t = gid.x;
  if (t >= u.T) { return; }
  var p = array<f32, 8>();
  var dp = array<f32, 8>();
  var dl = array<f32, 8>();
  for (var e = 0u; e < u.E; e++) { p[e] = RT[u.oP + t * u.E + e]; dp[e] = RT[u.oB + e]; }
  ${gatePart}
  for (var e = 0u; e < u.E; e++) { BW[u.oDL + t * u.E + e] = dl[e]; }
}`,
        workgroups: [Math.ceil(T / 64)],
      });

      // 7. dx = dy (residual) + d logits·W_rᵀ + Σ_e dH_e·W1_eᵀ as products over K = [dH_e … | d logits];
      //    the first kernel writes, later ones add. Reads W1 and W_r before their updates.
      let dx: GPUBuffer | null = null;
      if (needDx) {
        dx = c.buffer(T * d, `${s.name}.dx`);
        const firstSize = 8 - 3 - (s.residual ? 1 : 0);
        const dxGroups: [number, number][] = [[0, Math.min(E, firstSize)]];
        for (let e0 = dxGroups[0]![1]; e0 < E; e0 += 6) dxGroups.push([e0, Math.min(6, E - e0)]);
        for (const [gi, [e0, n]] of dxGroups.entries()) {
          const first = gi === 0;
          const w1 = parts('w1', 'W1', e0, n);
          const store = first ? (s.residual ? 'DX[m * u.d + n] = acc + DY[m * u.d + n];' : 'DX[m * u.d + n] = acc;') : 'DX[m * u.d + n] = DX[m * u.d + n] + acc;';
          recordMatmul(p, `${s.name}.dx${e0}`, {
            M: T,
            N: d,
            K: n * h + (first ? E : 0),
            a: 'dxA(m, k)',
            b: 'dxB(k, n)',
            bFast: 'k',
            helpers: `${selector('w1at', w1.map((b) => b.name))}
fn dxA(m: u32, k: u32) -> f32 {
  let nh = u.ng * u.h;
  if (k < nh) { return BW[(u.e0 + k / u.h) * u.T * u.h + m * u.h + k % u.h]; }
  return BW[u.oDL + m * u.E + k - nh];
}
fn dxB(k: u32, n: u32) -> f32 {
  let nh = u.ng * u.h;
  if (k < nh) { return w1at(k / u.h, n * u.hMax + k % u.h); }
  return ${first ? 'WR[n * u.S + k - nh]' : '0.0'};
}`,
            store,
            params: [...shape, ['e0', 'u32', e0], ['ng', 'u32', n], ['oDL', 'u32', ob.DL]],
            loadBindings: [{ name: 'BW', buffer: bw }, ...(first ? [{ name: 'WR', buffer: WR }] : []), ...w1],
            storeBindings: [...(first && s.residual ? [{ name: 'DY', buffer: dy }] : []), { name: 'DX', buffer: dx, access: 'read_write' as const }],
          });
        }
      }

      // 8–9. Weight gradients as products over the batch, K = T (x or H transposed: m-fast loads), each
      //      element handed to its variable's update (row stride `ld`).
      const weightGrad = (v: tf.Variable, label: string, M: number, N: number, a: string, b: string, ld: string, loads: Binding[], params: Param[]) => {
        const up = c.update(v, 'w');
        recordMatmul(p, label, { M, N, K: T, a, aFast: 'm', b, storeHelpers: up.helpers, store: `${up.fn}(m * ${ld} + n, acc);`, params, loadBindings: loads, storeBindings: up.bindings, splitK: splitKFor(M, N, T) });
      };
      // 8. Router: dW_r = xᵀ·d logits.
      weightGrad(s.router, `${s.name}.dWr`, d, E, 'X[k * u.d + m]', 'BW[u.oDL + k * u.E + n]', 'u.S', [{ name: 'X', buffer: x }, { name: 'BW', buffer: bw }], [...shape, ['oDL', 'u32', ob.DL]]);
      // 9. Each expert: dW2 = Hᵀ·(g ⊙ dy), db2 = Σ g ⊙ dy, dW1 = xᵀ·dH, db1 = Σ dH.
      s.experts.forEach((ex, e) => {
        const ep: Param[] = [...shape, ['e', 'u32', e], ['oG', 'u32', o.G]];
        const gdy = [{ name: 'RT', buffer: rt }, { name: 'DY', buffer: dy }];
        weightGrad(ex.w2, `${s.name}.e${e}.dW2`, h, d, 'HS[u.e * u.T * u.h + k * u.h + m]', 'RT[u.oG + k * u.E + u.e] * DY[k * u.d + n]', 'u.dMax', [{ name: 'HS', buffer: hs }, ...gdy], ep);
        recordColumnSum(c, `${s.name}.e${e}.db2`, { rows: T, cols: d, value: 'RT[u.oG + r * u.E + u.e] * DY[r * u.d + n]', bindings: gdy, params: ep, variable: ex.b2 });
        weightGrad(ex.w1, `${s.name}.e${e}.dW1`, d, h, 'X[k * u.d + m]', 'BW[u.e * u.T * u.h + k * u.h + n]', 'u.hMax', [{ name: 'X', buffer: x }, { name: 'BW', buffer: bw }], ep);
        recordColumnSum(c, `${s.name}.e${e}.db1`, { rows: T, cols: h, value: 'BW[u.e * u.T * u.h + r * u.h + n]', bindings: [{ name: 'BW', buffer: bw }], params: ep, variable: ex.b1 });
      });
      return dx;
    },
  };
  return { y, layer };
}
