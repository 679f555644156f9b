/**
 * One tiled fp32 matmul kernel generator for the compiled step: C(m, n) = Σ_k A(m, k)·B(k, n), where the
 * caller writes A, B and the store as WGSL expressions over its own bindings. Slices of supernet
 * variables, transposes, an implicit im2col, act′ prologues, bias rows and a fused optimizer update are all
 * the caller's loads and store; the tiling lives here once.
 *
 * Tiling: a 64×64 output tile per 16×16 workgroup, 4×4 outputs per thread at rows ty + 16·i and columns
 * tx + 16·j, K staged 16 deep in workgroup memory (8 KB). `aFast` / `bFast` say which index is contiguous
 * in memory, so consecutive threads load consecutive words. Split-K (`splitK` > 1) runs K in chunks along
 * the grid's z, writes partial sums to a scratch buffer and sums them in a second dispatch that runs the
 * store: for products whose K (a batch, or B·H·W for a conv filter gradient) dwarfs M·N.
 */
import type { Binding, Param, StepProgram } from './program.js';

const TM = 64;
const TN = 64;
const BK = 16;
const THREADS = 256;

export interface MatmulCall {
  M: number;
  N: number;
  K: number;
  /** WGSL expression for A(m, k) (u32 m, k in scope; called only for m < M, k < K). */
  a: string;
  /** WGSL expression for B(k, n). */
  b: string;
  /** Which index of A / B is contiguous in memory (default: A k-fast = row-major [M, K]; B n-fast). */
  aFast?: 'm' | 'k';
  bFast?: 'k' | 'n';
  /** WGSL statements storing the sum (u32 m, n and f32 acc in scope; called for m < M, n < N). */
  store: string;
  /** Helper functions the expressions use (in every kernel: they may name only bindings all of them have). */
  helpers?: string;
  /**
   * Helpers only the loads use (may name load bindings) and helpers only the store uses (may name store
   * bindings): with split-K the loads and the store run in different kernels, each declaring only its own
   * bindings, and WGSL rejects a function that names an undeclared buffer even when nothing calls it.
   */
  loadHelpers?: string;
  storeHelpers?: string;
  /** Extra params (u.<name>); M, N, K, kChunk are taken. */
  params?: readonly Param[];
  /** Buffers the loads read. */
  loadBindings: readonly Binding[];
  /** Buffers the store reads or writes (may repeat a load binding by name). */
  storeBindings: readonly Binding[];
  /** K chunks run in parallel (default 1). */
  splitK?: number;
}

function unionByName(a: readonly Binding[], b: readonly Binding[]): Binding[] {
  const out: Binding[] = [...a];
  for (const x of b) {
    const same = out.findIndex((y) => y.name === x.name);
    if (same < 0) out.push(x);
    else if (out[same]!.buffer !== x.buffer) throw new Error(`matmul binding "${x.name}" names two buffers`);
    else if (x.access === 'read_write') out[same] = x;
  }
  return out;
}

function tileLoads(call: MatmulCall): string {
  const aIdx =
    (call.aFast ?? 'k') === 'm' ? 'let r = e % TM; let kk = e / TM;' : 'let kk = e % BK; let r = e / BK;';
  const bIdx =
    (call.bFast ?? 'n') === 'n' ? 'let c = e % TN; let kb = e / TN;' : 'let kb = e % BK; let c = e / BK;';
  return `
    for (var j = 0u; j < ${(TM * BK) / THREADS}u; j++) {
      let e = tid + j * ${THREADS}u;
      {
        ${aIdx}
        let m = m0 + r; let k = k0 + kk;
        var v = 0.0;
        if (m < u.M && k < kEnd) { v = loadA(m, k); }
        As[kk * TM + r] = v;
      }
      {
        ${bIdx}
        let n = n0 + c; let k = k0 + kb;
        var w = 0.0;
        if (n < u.N && k < kEnd) { w = loadB(k, n); }
        Bs[kb * TN + c] = w;
      }
    }`;
}

function body(call: MatmulCall, split: boolean): string {
  let fma = '';
  for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) fma += `acc${i}${j} = fma(a${i}, b${j}, acc${i}${j}); `;
  const decl = Array.from({ length: 16 }, (_, q) => `var acc${Math.floor(q / 4)}${q % 4} = 0.0;`).join(' ');
  let stores = '';
  for (let i = 0; i < 4; i++)
    for (let j = 0; j < 4; j++) {
      const target = split ? `P[(wg.z * u.M + m) * u.N + n] = acc${i}${j};` : `storeC(m, n, acc${i}${j});`;
      stores += `{ let m = m0 + ty + ${16 * i}u; let n = n0 + tx + ${16 * j}u; if (m < u.M && n < u.N) { ${target} } }\n`;
    }
  return `
const TM = ${TM}u;
const TN = ${TN}u;
const BK = ${BK}u;
var<workgroup> As: array<f32, ${TM * BK}>;
var<workgroup> Bs: array<f32, ${TN * BK}>;
${call.helpers ?? ''}
${call.loadHelpers ?? ''}
${split ? '' : (call.storeHelpers ?? '')}
fn loadA(m: u32, k: u32) -> f32 { return ${call.a}; }
fn loadB(k: u32, n: u32) -> f32 { return ${call.b}; }
${split ? '' : `fn storeC(m: u32, n: u32, acc: f32) { ${call.store} }`}
@compute @workgroup_size(16, 16, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let tx = lid.x;
  let ty = lid.y;
  let tid = ty * 16u + tx;
  let m0 = wg.y * TM;
  let n0 = wg.x * TN;
  let kBegin = wg.z * u.kChunk;
  let kEnd = min(u.K, kBegin + u.kChunk);
  ${decl}
  for (var k0 = kBegin; k0 < kEnd; k0 += BK) {
    ${tileLoads(call)}
    workgroupBarrier();
    for (var kk = 0u; kk < BK; kk++) {
      let a0 = As[kk * TM + ty]; let a1 = As[kk * TM + ty + 16u]; let a2 = As[kk * TM + ty + 32u]; let a3 = As[kk * TM + ty + 48u];
      let b0 = Bs[kk * TN + tx]; let b1 = Bs[kk * TN + tx + 16u]; let b2 = Bs[kk * TN + tx + 32u]; let b3 = Bs[kk * TN + tx + 48u];
      ${fma}
    }
    workgroupBarrier();
  }
  ${stores}
}`;
}

function reduceBody(call: MatmulCall): string {
  return `
${call.helpers ?? ''}
${call.storeHelpers ?? ''}
fn storeC(m: u32, n: u32, acc: f32) { ${call.store} }
@compute @workgroup_size(256, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
  if (i >= u.M * u.N) { return; }
  let m = i / u.N;
  let n = i % u.N;
  var acc = 0.0;
  for (var z = 0u; z < u.splits; z++) { acc += P[z * u.M * u.N + i]; }
  storeC(m, n, acc);
}`;
}

function splitGrid(call: MatmulCall): { params: Param[]; grid: number[] } {
  const splits = Math.max(1, Math.min(call.splitK ?? 1, Math.ceil(call.K / BK)));
  const kChunk = Math.ceil(Math.ceil(call.K / splits) / BK) * BK;
  const params: Param[] = [['M', 'u32', call.M], ['N', 'u32', call.N], ['K', 'u32', call.K], ['kChunk', 'u32', kChunk], ...(call.params ?? [])];
  return { params, grid: [Math.ceil(call.N / TN), Math.ceil(call.M / TM), Math.ceil(call.K / kChunk)] };
}

function recordPartials(p: StepProgram, label: string, call: MatmulCall, params: Param[], grid: number[]): GPUBuffer {
  const partial = p.scratch(grid[2]! * call.M * call.N, `${label}.partial`);
  p.dispatch(`${label}.splitK`, { params, bindings: [...call.loadBindings, { name: 'P', buffer: partial, access: 'read_write' }], code: body(call, true), workgroups: grid });
  return partial;
}

/**
 * Only the split-K partial sums, P[(z·M + m)·N + n] over K chunk z (`splits` of them, at least 1), for a
 * caller whose reduction is its own (one that updates several variables at once, ./weightGradStep.ts).
 */
export function recordMatmulPartials(p: StepProgram, label: string, call: Omit<MatmulCall, 'store' | 'storeBindings' | 'storeHelpers'>): { partial: GPUBuffer; splits: number } {
  const full: MatmulCall = { ...call, store: '', storeBindings: [] };
  const { params, grid } = splitGrid(full);
  return { partial: recordPartials(p, label, full, params, grid), splits: grid[2]! };
}

/** Workgroups a split-K product aims for: a few per SM of a large GPU (the H200 has 132). */
const SPLIT_TARGET_WORKGROUPS = 512;
/** The smallest K chunk worth a workgroup of its own. */
const SPLIT_MIN_CHUNK = 256;

/**
 * How many K chunks a product with a long K should run in parallel: enough that the grid has about
 * SPLIT_TARGET_WORKGROUPS workgroups, each chunk at least SPLIT_MIN_CHUNK long. Weight gradients have
 * K = the batch's rows (B·T up to 131 072 for char-lm at batch 2048) and only a few output tiles: with
 * 8–16 splits (the first rule here) a [64, 256] gradient ran in 32–128 workgroups at ~1 TFLOP/s (H200
 * profile, bench/RESULTS.md).
 */
export function splitKFor(M: number, N: number, K: number): number {
  const tiles = Math.ceil(M / TM) * Math.ceil(N / TN);
  return Math.max(1, Math.min(Math.ceil(SPLIT_TARGET_WORKGROUPS / tiles), Math.floor(K / SPLIT_MIN_CHUNK)));
}

/** Record C = A·B with the caller's loads and store (one dispatch; two with split-K). */
export function recordMatmul(p: StepProgram, label: string, call: MatmulCall): void {
  const { params, grid } = splitGrid(call);
  if (grid[2] === 1) {
    p.dispatch(label, { params, bindings: unionByName(call.loadBindings, call.storeBindings), code: body(call, false), workgroups: grid });
    return;
  }
  const partial = recordPartials(p, label, call, params, grid);
  p.dispatch(`${label}.reduce`, {
    params: [...params, ['splits', 'u32', grid[2]!]],
    bindings: unionByName(call.storeBindings, [{ name: 'P', buffer: partial }]),
    code: reduceBody(call),
    workgroups: [Math.ceil((call.M * call.N) / 256)],
  });
}
