/**
 * WGSL programs for the MoE FFN hot path, registered as tfjs kernels on the 'webgpu' backend.
 *
 * They run through the webgpu backend's own `runWebGPUProgram`, so they share its buffer pool, its
 * command encoder and its timestamp-query profiling with every other tfjs op.
 *
 * The routing table (int32) every kernel reads, for T tokens, k choices, E experts, C slots per expert:
 *   [0, T·k)              expert of assignment a = t·k + r
 *   [T·k, 2·T·k)          slot (e·C + position) of assignment a, or -1 when the capacity dropped it
 *   [2·T·k, 2·T·k + E·C)  assignment held by each slot, or -1 when the slot is empty
 *   [2·T·k + E·C, … + E)  number of assignments expert e kept (its slots 0…count-1 are the full ones)
 * Expert buffers are [E, C, width]; rows at or past count[e] are never read by a consumer, which is what
 * lets the grouped matmul skip them (a balanced router fills only 1/capacityFactor of the slots).
 */
import * as tf from '@tensorflow/tfjs';
import {
  BASE_MATMUL_VARIANT,
  fitMatmulVariant,
  matmulDispatch,
  matmulKernelSource,
  matmulVariantChoice,
  matmulVariantKey,
  matmulWorkgroupSize,
  type MatmulMode,
  type MatmulVariant,
} from './matmulKernel.js';

/** The subset of tfjs-backend-webgpu's WebGPUProgram that these programs fill in. */
export interface MoeWebGpuProgram {
  outputShape: number[];
  shaderKey: string;
  dispatchLayout: { x: number[]; y?: number[]; z?: number[] };
  dispatch: [number, number, number];
  variableNames: string[];
  variableComponents?: number[];
  outputComponent?: number;
  uniforms?: string;
  workgroupSize: [number, number, number];
  getUserCode: () => string;
}

type Uniform = { type: 'int32' | 'float32'; data: number[] };

/** What the kernels use of the webgpu backend (typed locally: core/ does not import the backend package). */
export interface WebGpuBackendLike {
  device: { limits: { maxComputeWorkgroupStorageSize: number }; features: { has(f: string): boolean } };
  runWebGPUProgram(
    program: MoeWebGpuProgram,
    inputs: tf.TensorInfo[],
    outputDtype: tf.DataType,
    uniforms?: Uniform[],
  ): tf.TensorInfo;
}

/** Byte offsets (in int32 elements) of the routing table's sections. */
export function routeLayout(tokens: number, k: number, experts: number, capacity: number) {
  const tk = tokens * k;
  return {
    expertOf: 0,
    slotOf: tk,
    assignmentOf: 2 * tk,
    count: 2 * tk + experts * capacity,
    length: 2 * tk + experts * capacity + experts,
  };
}

const flatLayout = (rank: number) => ({ x: Array.from({ length: rank }, (_, i) => i) });

/**
 * Who gets an expert's slots first when it is over capacity: 'rank' (GShard, Lepikhin et al., 2021):
 * every token's first choice before any second choice, tokens in order within a rank; 'token': tokens in
 * order, each token's choices together.
 */
export type RoutePriority = 'rank' | 'token';

/**
 * Top-k over router probabilities and positions within capacity, in one workgroup. An assignment whose
 * position reaches the capacity is dropped. Ties between equal probabilities go to the lower expert
 * index (as tf.topk).
 */
export class RouteTopKProgram implements MoeWebGpuProgram {
  outputShape: number[];
  shaderKey: string;
  dispatchLayout = flatLayout(1);
  dispatch: [number, number, number] = [1, 1, 1];
  variableNames = ['P'];
  variableComponents = [1];
  uniforms = 'T : i32, C : i32,';
  workgroupSize: [number, number, number] = [256, 1, 1];
  constructor(
    private tokens: number,
    private experts: number,
    private k: number,
    private capacity: number,
    private priority: RoutePriority,
  ) {
    this.outputShape = [routeLayout(tokens, k, experts, capacity).length];
    this.shaderKey = `swMoeRoute_${experts}_${k}_${priority}`;
  }
  getUserCode(): string {
    const E = this.experts;
    const K = this.k;
    return `
const E = ${E};
const K = ${K};
const RANK_PRIORITY = ${this.priority === 'rank'};
const PASSES = ${this.priority === 'rank' ? K : 1};
var<workgroup> scanBuf: array<i32, 256>;

fn main(index : i32) {
  let tid = i32(localIndex);
  let T = uniforms.T;
  let C = uniforms.C;
  let TK = T * K;
  let chunk = (T + 255) / 256;
  let t0 = min(T, tid * chunk);
  let t1 = min(T, t0 + chunk);
  // 1. top-k of each token of this thread's chunk (selection; E is small).
  for (var t = t0; t < t1; t++) {
    for (var r = 0; r < K; r++) {
      var best = -1;
      var bestV = -3.0e38;
      for (var e = 0; e < E; e++) {
        var taken = false;
        for (var q = 0; q < r; q++) { if (result[t * K + q] == e) { taken = true; } }
        let v = P[t * E + e];
        if (!taken && v > bestV) { bestV = v; best = e; }
      }
      result[t * K + r] = best;
    }
  }
  // 2. every slot starts empty.
  for (var s = tid; s < E * C; s += 256) { result[2 * TK + s] = -1; }
  storageBarrier();
  workgroupBarrier();
  // 3. positions: for each pass (one per choice rank, or one for token priority), for each expert, an
  //    exclusive scan of per-thread counts over the threads' token chunks.
  for (var ps = 0; ps < PASSES; ps++) {
    let rLo = select(0, ps, RANK_PRIORITY);
    let rHi = select(K, ps + 1, RANK_PRIORITY);
    for (var e = 0; e < E; e++) {
      var cnt = 0;
      for (var t = t0; t < t1; t++) {
        for (var r = rLo; r < rHi; r++) { if (result[t * K + r] == e) { cnt++; } }
      }
      scanBuf[tid] = cnt;
      workgroupBarrier();
      for (var off = 1; off < 256; off = off * 2) {
        var add = 0;
        if (tid >= off) { add = scanBuf[tid - off]; }
        workgroupBarrier();
        scanBuf[tid] = scanBuf[tid] + add;
        workgroupBarrier();
      }
      let total = scanBuf[255];
      var pos = scanBuf[tid] - cnt;
      workgroupBarrier();
      // Assignments of earlier passes sit in the count section (written by thread 0 below).
      var base = 0;
      if (ps > 0) { base = result[2 * TK + E * C + e]; }
      for (var t = t0; t < t1; t++) {
        for (var r = rLo; r < rHi; r++) {
          let a = t * K + r;
          if (result[a] == e) {
            let p = base + pos;
            if (p < C) {
              result[TK + a] = e * C + p;
              result[2 * TK + e * C + p] = a;
            } else {
              result[TK + a] = -1;
            }
            pos++;
          }
        }
      }
      storageBarrier();
      workgroupBarrier();
      if (tid == 0) { result[2 * TK + E * C + e] = base + total; }
      storageBarrier();
      workgroupBarrier();
    }
  }
  // counts so far are assignments routed; clamp to what was kept.
  if (tid < E) { result[2 * TK + E * C + tid] = min(result[2 * TK + E * C + tid], C); }
}
`;
  }
}

/**
 * out[slot] = src[token(slot)] · (scale[assignment(slot)] if scaled), 0 for empty slots.
 * Forward: dispatch of tokens into expert buffers. Backward: dYe = gate · dy[token].
 */
export class GatherRowsProgram implements MoeWebGpuProgram {
  outputShape: number[];
  shaderKey: string;
  dispatchLayout = flatLayout(2);
  dispatch: [number, number, number];
  variableNames: string[];
  variableComponents: number[];
  outputComponent = 4;
  uniforms = 'W4 : i32, K : i32, assignOff : i32,';
  workgroupSize: [number, number, number] = [256, 1, 1];
  constructor(
    rows: number,
    private width: number,
    private scaled: boolean,
  ) {
    this.outputShape = [rows, width];
    this.variableNames = scaled ? ['X', 'R', 'S'] : ['X', 'R'];
    this.variableComponents = scaled ? [4, 1, 1] : [4, 1];
    const n = (rows * width) / 4;
    this.dispatch = splitDispatch(Math.ceil(n / 256));
    this.shaderKey = `swMoeGather_${scaled}`;
  }
  getUserCode(): string {
    return `
fn main(index : i32) {
  let W4 = uniforms.W4;
  let total = uniforms.outShape.x * W4;
  if (index >= total) { return; }
  let row = index / W4;
  let c = index - row * W4;
  let a = R[uniforms.assignOff + row];
  var v = vec4<f32>(0.0);
  if (a >= 0) {
    let t = a / uniforms.K;
    v = X[t * W4 + c]${this.scaled ? ' * S[a]' : ''};
  }
  result[index] = v;
}
`;
  }
}

/**
 * out[t] = Σ_r gate[t·k + r] · Y[slot(t, r)] over kept assignments (no gate when unscaled: dx = Σ dXe).
 */
export class CombineRowsProgram implements MoeWebGpuProgram {
  outputShape: number[];
  shaderKey: string;
  dispatchLayout = flatLayout(2);
  dispatch: [number, number, number];
  variableNames: string[];
  variableComponents: number[];
  outputComponent = 4;
  uniforms = 'W4 : i32, slotOff : i32,';
  workgroupSize: [number, number, number] = [256, 1, 1];
  constructor(
    tokens: number,
    width: number,
    private k: number,
    private gated: boolean,
  ) {
    this.outputShape = [tokens, width];
    this.variableNames = gated ? ['Y', 'R', 'G'] : ['Y', 'R'];
    this.variableComponents = gated ? [4, 1, 1] : [4, 1];
    this.dispatch = splitDispatch(Math.ceil((tokens * width) / 4 / 256));
    this.shaderKey = `swMoeCombine_${k}_${gated}`;
  }
  getUserCode(): string {
    const K = this.k;
    return `
fn main(index : i32) {
  let W4 = uniforms.W4;
  let total = uniforms.outShape.x * W4;
  if (index >= total) { return; }
  let t = index / W4;
  let c = index - t * W4;
  var v = vec4<f32>(0.0);
  for (var r = 0; r < ${K}; r++) {
    let a = t * ${K} + r;
    let s = R[uniforms.slotOff + a];
    if (s >= 0) { v = v + Y[s * W4 + c]${this.gated ? ' * G[a]' : ''}; }
  }
  result[index] = v;
}
`;
  }
}

/** dGate[a] = ⟨dy[token(a)], Y[slot(a)]⟩ for kept assignments, 0 for dropped ones. 64 threads per assignment. */
export class GateGradProgram implements MoeWebGpuProgram {
  outputShape: number[];
  shaderKey = 'swMoeGateGrad';
  dispatchLayout = flatLayout(1);
  dispatch: [number, number, number];
  variableNames = ['D', 'Y', 'R'];
  variableComponents = [4, 4, 1];
  uniforms = 'W4 : i32, K : i32, slotOff : i32,';
  workgroupSize: [number, number, number] = [64, 1, 1];
  constructor(assignments: number) {
    this.outputShape = [assignments];
    this.dispatch = splitDispatch(assignments);
  }
  getUserCode(): string {
    return `
var<workgroup> partial: array<f32, 64>;
fn main(index : i32) {
  let a = i32(workgroupId.x + workgroupId.y * numWorkgroups.x);
  let lid = i32(localIndex);
  let W4 = uniforms.W4;
  let valid = a < uniforms.outShape;
  var s = -1;
  if (valid) { s = R[uniforms.slotOff + a]; }
  var acc = 0.0;
  if (s >= 0) {
    let t = a / uniforms.K;
    for (var c = lid; c < W4; c += 64) { acc += dot(D[t * W4 + c], Y[s * W4 + c]); }
  }
  partial[lid] = acc;
  workgroupBarrier();
  for (var off = 32; off > 0; off = off / 2) {
    if (lid < off) { partial[lid] = partial[lid] + partial[lid + off]; }
    workgroupBarrier();
  }
  if (lid == 0 && valid) { result[a] = partial[0]; }
}
`;
  }
}

/** keep[a] = 1 where assignment a holds a slot, else 0 (float, for the layer's statistics). */
export class KeepMaskProgram implements MoeWebGpuProgram {
  outputShape: number[];
  shaderKey = 'swMoeKeep';
  dispatchLayout = flatLayout(1);
  dispatch: [number, number, number];
  variableNames = ['R'];
  variableComponents = [1];
  uniforms = 'slotOff : i32,';
  workgroupSize: [number, number, number] = [64, 1, 1];
  constructor(assignments: number) {
    this.outputShape = [assignments];
    this.dispatch = splitDispatch(Math.ceil(assignments / 64));
  }
  getUserCode(): string {
    return `
fn main(index : i32) {
  if (index >= uniforms.outShape) { return; }
  result[index] = select(0.0, 1.0, R[uniforms.slotOff + index] >= 0);
}
`;
  }
}

/**
 * gate[a] = keep[a] · probs[t, expert(a)] (÷ Σ_r probs[t, expert(t, r)] when normalising), one thread per
 * token: the gather, the optional normalisation and the capacity mask in one pass.
 */
export class GatesProgram implements MoeWebGpuProgram {
  outputShape: number[];
  shaderKey: string;
  dispatchLayout = flatLayout(1);
  dispatch: [number, number, number];
  variableNames = ['P', 'R'];
  variableComponents = [1, 1];
  uniforms = 'T : i32, slotOff : i32,';
  workgroupSize: [number, number, number] = [64, 1, 1];
  constructor(
    tokens: number,
    private experts: number,
    private k: number,
    private normalize: boolean,
  ) {
    this.outputShape = [tokens * k];
    this.dispatch = splitDispatch(Math.ceil(tokens / 64));
    this.shaderKey = `swMoeGates_${experts}_${k}_${normalize}`;
  }
  getUserCode(): string {
    const E = this.experts;
    const K = this.k;
    return `
fn main(index : i32) {
  let t = index;
  if (t >= uniforms.T) { return; }
  var sum = 0.0;
  for (var r = 0; r < ${K}; r++) { sum += P[t * ${E} + R[t * ${K} + r]]; }
  let scale = ${this.normalize ? '1.0 / sum' : '1.0'};
  for (var r = 0; r < ${K}; r++) {
    let a = t * ${K} + r;
    var g = 0.0;
    if (R[uniforms.slotOff + a] >= 0) { g = P[t * ${E} + R[a]] * scale; }
    result[a] = g;
  }
}
`;
  }
}

/** Backward of GatesProgram: dProbs[t, e] from dGate (dropped assignments pass nothing back). */
export class GatesGradProgram implements MoeWebGpuProgram {
  outputShape: number[];
  shaderKey: string;
  dispatchLayout = flatLayout(2);
  dispatch: [number, number, number];
  variableNames = ['D', 'P', 'R'];
  variableComponents = [1, 1, 1];
  uniforms = 'T : i32, slotOff : i32,';
  workgroupSize: [number, number, number] = [64, 1, 1];
  constructor(
    tokens: number,
    private experts: number,
    private k: number,
    private normalize: boolean,
  ) {
    this.outputShape = [tokens, experts];
    this.dispatch = splitDispatch(Math.ceil(tokens / 64));
    this.shaderKey = `swMoeGatesGrad_${experts}_${k}_${normalize}`;
  }
  getUserCode(): string {
    const E = this.experts;
    const K = this.k;
    // g_r = keep_r · raw_r / S  ⇒  ∂/∂raw_j = keep_j·dg_j / S − Σ_r keep_r·dg_r·raw_r / S²   (S = Σ_r raw_r)
    return `
fn main(index : i32) {
  let t = index;
  if (t >= uniforms.T) { return; }
  var raw: array<f32, ${K}>;
  var dk: array<f32, ${K}>;
  var sum = 0.0;
  var wsum = 0.0;
  for (var r = 0; r < ${K}; r++) {
    let a = t * ${K} + r;
    raw[r] = P[t * ${E} + R[a]];
    dk[r] = select(0.0, D[a], R[uniforms.slotOff + a] >= 0);
    sum += raw[r];
    wsum += dk[r] * raw[r];
  }
  for (var e = 0; e < ${E}; e++) {
    var v = 0.0;
    for (var r = 0; r < ${K}; r++) {
      if (R[t * ${K} + r] == e) {
        v += ${this.normalize ? 'dk[r] / sum - wsum / (sum * sum)' : 'dk[r]'};
      }
    }
    result[t * ${E} + e] = v;
  }
}
`;
  }
}

/**
 * Partial column sums of an expert buffer [E, C, W] over its kept rows: out[e, p, :] sums rows
 * p·chunk … (p+1)·chunk - 1 below count[e]. The caller sums axis 1 (bias gradients).
 */
export class ExpertColumnSumProgram implements MoeWebGpuProgram {
  outputShape: number[];
  shaderKey = 'swMoeColSum';
  dispatchLayout = flatLayout(3);
  dispatch: [number, number, number];
  variableNames = ['Y', 'R'];
  variableComponents = [4, 1];
  outputComponent = 4;
  uniforms = 'W4 : i32, C : i32, chunk : i32, parts : i32, countOff : i32,';
  workgroupSize: [number, number, number] = [64, 1, 1];
  constructor(experts: number, parts: number, width: number) {
    this.outputShape = [experts, parts, width];
    this.dispatch = splitDispatch(Math.ceil((experts * parts * width) / 4 / 64));
  }
  getUserCode(): string {
    return `
fn main(index : i32) {
  let W4 = uniforms.W4;
  let parts = uniforms.parts;
  if (index >= uniforms.outShape.x * parts * W4) { return; }
  let e = index / (parts * W4);
  let rem = index - e * parts * W4;
  let p = rem / W4;
  let c = rem - p * W4;
  let count = R[uniforms.countOff + e];
  let r0 = p * uniforms.chunk;
  let r1 = min(count, r0 + uniforms.chunk);
  var acc = vec4<f32>(0.0);
  for (var r = r0; r < r1; r++) { acc += Y[(e * uniforms.C + r) * W4 + c]; }
  result[index] = acc;
}
`;
  }
}

/**
 * Matmul code-generation knobs (the bench sweeps them; defaults are the fastest measured on an H100,
 * 4096³: 18.5 TFLOP/s for A·B and 20.9 for Aᵀ·B, against 16.3 / 18.6 with neither):
 * bk = K-tile depth (0: the deepest that fits workgroup memory, up to 16); unroll = unroll the loop over
 * one staged tile in WGSL; stageAT = for 'nn', store the A tile transposed ([k][m]) so the inner loop
 * reads two vec4 of A per k-step (fewer live registers) instead of eight vec4 per four k-steps;
 * stages = 2 double-buffers the tiles in workgroup memory (one barrier per tile instead of two).
 */
export const matmulTuning = { bk: 0, unroll: true, stageAT: true, stages: 1 };

/** Operand layouts of the grouped matmul: 'nn' out = A·B, 'tn' out = Aᵀ·B (weight gradients), 'nt' out = A·Bᵀ. */
export type GroupedMatmulMode = MatmulMode;

/**
 * Grouped (per-expert) fp32 matmul: tiles of the output per workgroup, BK-deep K tiles staged in
 * workgroup memory, vec4 loads and stores; the code comes from matmulKernel.ts (the default: 128×128
 * tiles, 8×8 outputs per thread). One z-slice per expert; the routing table's counts bound the rows: in
 * 'nn'/'nt' the output rows (tiles past count[e] exit at once), in 'tn' the reduction.
 * Epilogue: + bias[e], relu, or × (mask > 0) (relu backward) — fused so the intermediates skip a pass.
 *
 * Storage: nn  A[e] = [M, K] row-major, B[e] = [K, N]; out[e] = [M, N]
 *          tn  A[e] = [K, M] row-major, B[e] = [K, N]; out[e] = [M, N]
 *          nt  A[e] = [M, K] row-major, B[e] = [N, K]; out[e] = [M, N]
 *
 * Without `variant` the kernel is BASE_MATMUL_VARIANT with the legacy knobs (bk, unroll, stageAT,
 * stages: matmulTuning) — the same WGSL as before the generator existed; with one, the knobs are ignored.
 */
export class GroupedMatmulProgram implements MoeWebGpuProgram {
  outputShape: number[];
  shaderKey: string;
  dispatchLayout = flatLayout(3);
  dispatch: [number, number, number];
  variableNames: string[];
  variableComponents: number[];
  outputComponent = 4;
  uniforms = 'M : i32, N4 : i32, K : i32, aBatch : i32, bBatch : i32, countOff : i32,';
  workgroupSize: [number, number, number];
  private variant: MatmulVariant;
  constructor(
    batches: number,
    M: number,
    N: number,
    private mode: GroupedMatmulMode,
    bk: number,
    private epilogue: { bias: boolean; relu: boolean; mask: boolean },
    unroll = false,
    stageAT = false,
    stages = 1,
    variant?: MatmulVariant,
  ) {
    this.outputShape = [batches, M, N];
    this.variableNames = ['A', 'B', 'R'];
    this.variableComponents = [4, 4, 1];
    if (epilogue.bias) {
      this.variableNames.push('Bias');
      this.variableComponents.push(4);
    }
    if (epilogue.mask) {
      this.variableNames.push('Mask');
      this.variableComponents.push(4);
    }
    const legacy = `swMoeGmm_${mode}_${bk}_${epilogue.bias}_${epilogue.relu}_${epilogue.mask}_${unroll}_${stageAT}_${stages}`;
    this.variant = variant ?? { ...BASE_MATMUL_VARIANT, bk, unroll, aStage: stageAT ? 'km' : 'mk', stages: stages === 2 ? 2 : 1 };
    this.shaderKey = variant ? `swMoeGmm_${mode}_${epilogue.bias}_${epilogue.relu}_${epilogue.mask}_${matmulVariantKey(variant)}` : legacy;
    this.workgroupSize = matmulWorkgroupSize(this.variant);
    this.dispatch = matmulDispatch(this.variant, M, N, batches);
  }
  getUserCode(): string {
    return matmulKernelSource(this.variant, this.mode, this.epilogue);
  }
}

/**
 * The grouped matmul program for one product: the variant matmulVariantChoice names (SWITCHYARD_MATMUL_VARIANT)
 * where it fits, else the default kernel with matmulTuning's knobs.
 */
export function groupedMatmulProgram(
  backend: WebGpuBackendLike,
  s: { batches: number; M: number; N: number; K: number; routed: boolean },
  mode: GroupedMatmulMode,
  epilogue: { bias: boolean; relu: boolean; mask: boolean },
): GroupedMatmulProgram {
  const variant = fitMatmulVariant(matmulVariantChoice.name, mode, s, backend.device.limits.maxComputeWorkgroupStorageSize);
  if (variant) return new GroupedMatmulProgram(s.batches, s.M, s.N, mode, variant.bk, epilogue, variant.unroll, variant.aStage === 'km', variant.stages, variant);
  return new GroupedMatmulProgram(s.batches, s.M, s.N, mode, matmulTileDepth(backend), epilogue, matmulTuning.unroll, matmulTuning.stageAT, matmulTuning.stages);
}

function splitDispatch(groups: number): [number, number, number] {
  if (groups <= 65535) return [Math.max(1, groups), 1, 1];
  const y = Math.ceil(groups / 65535);
  return [Math.ceil(groups / y), y, 1];
}

const i32 = (...data: number[]): Uniform[] => data.map((d) => ({ type: 'int32', data: [d] }));

const webgpu = (backend: unknown) => backend as WebGpuBackendLike;

/** K-tile depth: matmulTuning.bk, else the deepest (≤ 16) that fits workgroup memory (nn needs 128·(BK/4+1) + BK·32 vec4). */
export function matmulTileDepth(backend: WebGpuBackendLike): number {
  const bytes = (bk: number) => (128 * (bk / 4 + 1) + bk * 32) * 16 * matmulTuning.stages + 16;
  const limit = backend.device.limits.maxComputeWorkgroupStorageSize;
  if (matmulTuning.bk > 0 && bytes(matmulTuning.bk) <= limit) return matmulTuning.bk;
  return bytes(16) <= limit ? 16 : 8;
}

export const MOE_KERNELS = {
  route: 'SwMoeRouteTopK',
  gather: 'SwMoeGatherRows',
  combine: 'SwMoeCombineRows',
  gateGrad: 'SwMoeGateGrad',
  columnSum: 'SwMoeExpertColumnSum',
  keep: 'SwMoeKeepMask',
  gates: 'SwMoeGates',
  gatesGrad: 'SwMoeGatesGrad',
  matmul: 'SwMoeGroupedMatmul',
} as const;

let registered = false;

/** Registers the MoE kernels for the 'webgpu' backend (idempotent). */
export function registerMoeKernels(): void {
  if (registered) return;
  registered = true;
  const backendName = 'webgpu';
  tf.registerKernel({
    kernelName: MOE_KERNELS.route,
    backendName,
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { probs } = inputs as { probs: tf.TensorInfo };
      const { k, capacity, priority } = attrs as unknown as { k: number; capacity: number; priority: RoutePriority };
      const [T, E] = probs.shape;
      const program = new RouteTopKProgram(T, E, k, capacity, priority);
      return webgpu(backend).runWebGPUProgram(program, [probs], 'int32', i32(T, capacity));
    },
  });
  tf.registerKernel({
    kernelName: MOE_KERNELS.gather,
    backendName,
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { x, route, scale } = inputs as { x: tf.TensorInfo; route: tf.TensorInfo; scale?: tf.TensorInfo };
      const { rows, k, assignOff } = attrs as unknown as { rows: number; k: number; assignOff: number };
      const width = x.shape[1];
      const program = new GatherRowsProgram(rows, width, scale != null);
      const ins = scale != null ? [x, route, scale] : [x, route];
      return webgpu(backend).runWebGPUProgram(program, ins, 'float32', i32(width / 4, k, assignOff));
    },
  });
  tf.registerKernel({
    kernelName: MOE_KERNELS.combine,
    backendName,
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { y, route, gates } = inputs as { y: tf.TensorInfo; route: tf.TensorInfo; gates?: tf.TensorInfo };
      const { tokens, k, slotOff } = attrs as unknown as { tokens: number; k: number; slotOff: number };
      const width = y.shape[y.shape.length - 1];
      const program = new CombineRowsProgram(tokens, width, k, gates != null);
      const ins = gates != null ? [y, route, gates] : [y, route];
      return webgpu(backend).runWebGPUProgram(program, ins, 'float32', i32(width / 4, slotOff));
    },
  });
  tf.registerKernel({
    kernelName: MOE_KERNELS.gateGrad,
    backendName,
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { dy, y, route } = inputs as { dy: tf.TensorInfo; y: tf.TensorInfo; route: tf.TensorInfo };
      const { assignments, k, slotOff } = attrs as unknown as { assignments: number; k: number; slotOff: number };
      const width = dy.shape[1];
      const program = new GateGradProgram(assignments);
      return webgpu(backend).runWebGPUProgram(program, [dy, y, route], 'float32', i32(width / 4, k, slotOff));
    },
  });
  tf.registerKernel({
    kernelName: MOE_KERNELS.keep,
    backendName,
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { route } = inputs as { route: tf.TensorInfo };
      const { assignments, slotOff } = attrs as unknown as { assignments: number; slotOff: number };
      return webgpu(backend).runWebGPUProgram(new KeepMaskProgram(assignments), [route], 'float32', i32(slotOff));
    },
  });
  tf.registerKernel({
    kernelName: MOE_KERNELS.gates,
    backendName,
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { probs, route } = inputs as { probs: tf.TensorInfo; route: tf.TensorInfo };
      const { k, normalize, slotOff } = attrs as unknown as { k: number; normalize: boolean; slotOff: number };
      const [T, E] = probs.shape;
      return webgpu(backend).runWebGPUProgram(new GatesProgram(T, E, k, normalize), [probs, route], 'float32', i32(T, slotOff));
    },
  });
  tf.registerKernel({
    kernelName: MOE_KERNELS.gatesGrad,
    backendName,
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { dGates, probs, route } = inputs as { dGates: tf.TensorInfo; probs: tf.TensorInfo; route: tf.TensorInfo };
      const { k, normalize, slotOff } = attrs as unknown as { k: number; normalize: boolean; slotOff: number };
      const [T, E] = probs.shape;
      return webgpu(backend).runWebGPUProgram(new GatesGradProgram(T, E, k, normalize), [dGates, probs, route], 'float32', i32(T, slotOff));
    },
  });
  tf.registerKernel({
    kernelName: MOE_KERNELS.columnSum,
    backendName,
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { y, route } = inputs as { y: tf.TensorInfo; route: tf.TensorInfo };
      const { experts, capacity, chunk, countOff } = attrs as unknown as {
        experts: number;
        capacity: number;
        chunk: number;
        countOff: number;
      };
      const width = y.shape[y.shape.length - 1];
      const parts = Math.ceil(capacity / chunk);
      const program = new ExpertColumnSumProgram(experts, parts, width);
      return webgpu(backend).runWebGPUProgram(program, [y, route], 'float32', i32(width / 4, capacity, chunk, parts, countOff));
    },
  });
  tf.registerKernel({
    kernelName: MOE_KERNELS.matmul,
    backendName,
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { a, b, route, bias, mask } = inputs as Record<string, tf.TensorInfo | undefined>;
      const { mode, batches, M, N, K, relu, countOff } = attrs as unknown as {
        mode: GroupedMatmulMode;
        batches: number;
        M: number;
        N: number;
        K: number;
        relu: boolean;
        countOff: number;
      };
      const be = webgpu(backend);
      const program = groupedMatmulProgram(be, { batches, M, N, K, routed: countOff >= 0 }, mode, { bias: bias != null, relu, mask: mask != null });
      const ins = [a!, b!, route!];
      if (bias) ins.push(bias);
      if (mask) ins.push(mask);
      return be.runWebGPUProgram(program, ins, 'float32', i32(M, N / 4, K, (M * K) / 4, (K * N) / 4, countOff));
    },
  });
}
