/**
 * One WGSL kernel for a dense block's forward and backward products on WebGPU (fp32): a tiled matmul
 * over strided operands with the block's element-wise work folded in, so a dense block is one dispatch
 * forward and three backward instead of ~6 and ~12 tfjs ops (slices of the shared kernel, matMul, bias
 * add, activation, their gradients and the pads that put a slice's gradient back into the full kernel).
 *
 *   out[m, n] = epi( Σ_k pro_A(A(m, k)) · pro_B(B(k, n)) )   for m < mValid, n < nValid; 0 elsewhere in
 *   the [M, N] output (the zero frame is how the gradient of a slice W[0:d, 0:w] of a [dMax, wMax] kernel
 *   comes out full-size in the same dispatch).
 *
 * Operands are read in place: A(m, k) = A[m·lda + k] ('n') or A[k·lda + m] ('t'); B(k, n) = B[k·ldb + n]
 * ('n') or B[n·ldb + k] ('t'); lda / ldb are the row strides of the stored (possibly larger) arrays, so a
 * slice of a supernet kernel is never copied. pro_X multiplies the operand by act'(Y) where Y (same layout
 * and stride) is the activation's output: dZ = dY ⊙ act'(Y) without a pass of its own. epi adds a bias
 * row and applies the activation.
 *
 * Tiling: a 64×64 output tile per 16×16 workgroup, 4×4 outputs per thread at rows ty + 16·i and columns
 * tx + 16·j (consecutive threads read consecutive workgroup-memory words and write consecutive output
 * words), K staged 16 deep. The index math is mirrored by `emulateDenseMatmul` (tested on CPU CI); the
 * kernel itself is checked against PyTorch on the GPU (bench/checkDenseKernels.ts).
 */
import * as tf from '@tensorflow/tfjs';
import type { MoeWebGpuProgram, WebGpuBackendLike } from './moeKernels.js';

/**
 * Epilogue activations: their derivative is a function of their output, so the backward reads the output.
 * As a gradient prologue 'gelu' also exists: its derivative Φ(z) + z·φ(z) reads the pre-activation z.
 */
export type FusedActivation = 'relu' | 'tanh' | 'sigmoid' | 'linear';
export type GradActivation = FusedActivation | 'gelu';

export const DENSE_TILE = 64;
export const DENSE_BK = 16;
const WG = 16;
/** Elements of one A or B tile each of the 256 threads loads per K step. */
const LOADS = (DENSE_TILE * DENSE_BK) / (WG * WG);

export interface DenseMatmulSpec {
  /** Output rows and columns (the stored output is [M, N]). */
  M: number;
  N: number;
  K: number;
  /** Computed region: outputs at m ≥ mValid or n ≥ nValid are written 0. */
  mValid: number;
  nValid: number;
  aLayout: 'n' | 't';
  bLayout: 'n' | 't';
  lda: number;
  ldb: number;
  /**
   * Multiply operand A or B by act'(Y) on load (Y laid out like that operand), act = gradActivation: Y is
   * the activation's output, or for 'gelu' its input. 'none' for a linear block (nothing to multiply by).
   */
  gradOf: 'none' | 'a' | 'b';
  gradActivation: GradActivation;
  /** Epilogue: + bias[n], then activation. */
  bias: boolean;
  activation: FusedActivation;
}

/** Workgroups of the dispatch: one per 64×64 tile of the M × N output. */
export function denseDispatch(M: number, N: number): [number, number, number] {
  return [Math.ceil(N / DENSE_TILE), Math.ceil(M / DENSE_TILE), 1];
}

/** Flat offset of operand element (row, col) of the logical matrix, given its stored layout. */
export function operandOffset(layout: 'n' | 't', ld: number, row: number, col: number): number {
  return layout === 'n' ? row * ld + col : col * ld + row;
}

/**
 * Which stored element thread `tid` (0…255) loads as its j-th load (0…LOADS-1) of the A tile: the
 * tile's row (m offset) and k offset. 'n' walks k fastest (coalesced along a stored row), 't' walks m
 * fastest (a stored row of Aᵀ is a column of A).
 */
export function aTileLoad(layout: 'n' | 't', tid: number, j: number): { r: number; kk: number } {
  const idx = tid + WG * WG * j;
  return layout === 'n' ? { r: Math.floor(idx / DENSE_BK), kk: idx % DENSE_BK } : { r: idx % DENSE_TILE, kk: Math.floor(idx / DENSE_TILE) };
}

/** Same for the B tile: k offset and column (n offset); 'n' walks n fastest, 't' walks k fastest. */
export function bTileLoad(layout: 'n' | 't', tid: number, j: number): { kk: number; c: number } {
  const idx = tid + WG * WG * j;
  return layout === 'n' ? { kk: Math.floor(idx / DENSE_TILE), c: idx % DENSE_TILE } : { kk: idx % DENSE_BK, c: Math.floor(idx / DENSE_BK) };
}

/** erf by Abramowitz & Stegun 7.1.26 (|error| ≤ 1.5e-7), the form the GELU kernels use (WGSL has no erf). */
export function erfApprox(x: number): number {
  const t = 1 / (1 + ERF_P * Math.abs(x));
  const poly = t * (ERF_A[0] + t * (ERF_A[1] + t * (ERF_A[2] + t * (ERF_A[3] + t * ERF_A[4]))));
  return Math.sign(x) * (1 - poly * Math.exp(-x * x));
}
const ERF_P = 0.3275911;
const ERF_A = [0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429] as const;

/** GELU x·Φ(x) (exact form through erfApprox). */
export function geluApprox(x: number): number {
  return 0.5 * x * (1 + erfApprox(x / Math.SQRT2));
}

/** act'(y) from the activation's output y; for 'gelu', from its input: Φ(z) + z·φ(z). */
export function activationGradFromOutput(kind: GradActivation, y: number): number {
  switch (kind) {
    case 'gelu':
      return 0.5 * (1 + erfApprox(y / Math.SQRT2)) + (y * Math.exp(-0.5 * y * y)) / Math.sqrt(2 * Math.PI);
    case 'relu':
      return y > 0 ? 1 : 0;
    case 'tanh':
      return 1 - y * y;
    case 'sigmoid':
      return y * (1 - y);
    case 'linear':
      return 1;
  }
}

function applyActivation(kind: FusedActivation, v: number): number {
  switch (kind) {
    case 'relu':
      return Math.max(v, 0);
    case 'tanh':
      return Math.tanh(v);
    case 'sigmoid':
      return 1 / (1 + Math.exp(-v));
    case 'linear':
      return v;
  }
}

/**
 * The kernel's arithmetic in JavaScript, following its tile / thread / load structure index for index
 * (the same helpers compute the loads), so CPU tests pin the index math the WGSL uses.
 */
export function emulateDenseMatmul(spec: DenseMatmulSpec, A: Float32Array, B: Float32Array, Y: Float32Array | null, bias: Float32Array | null): Float32Array {
  const { M, N, K, mValid, nValid, aLayout, bLayout, lda, ldb, gradOf } = spec;
  const out = new Float32Array(M * N);
  const [gx, gy] = denseDispatch(M, N);
  const As = new Float32Array(DENSE_BK * DENSE_TILE);
  const Bs = new Float32Array(DENSE_BK * DENSE_TILE);
  const dAct = (y: number) => activationGradFromOutput(spec.gradActivation, y);
  for (let wy = 0; wy < gy; wy++) {
    for (let wx = 0; wx < gx; wx++) {
      const m0 = wy * DENSE_TILE;
      const n0 = wx * DENSE_TILE;
      const acc = new Float32Array(WG * WG * 16);
      for (let k0 = 0; k0 < K; k0 += DENSE_BK) {
        for (let tid = 0; tid < WG * WG; tid++) {
          for (let j = 0; j < LOADS; j++) {
            const a = aTileLoad(aLayout, tid, j);
            const gm = m0 + a.r;
            const gk = k0 + a.kk;
            let v = 0;
            if (gm < mValid && gk < K) {
              const o = operandOffset(aLayout, lda, gm, gk);
              v = A[o]!;
              if (gradOf === 'a') v *= dAct(Y![o]!);
            }
            As[a.kk * DENSE_TILE + a.r] = v;
            const b = bTileLoad(bLayout, tid, j);
            const gk2 = k0 + b.kk;
            const gn = n0 + b.c;
            let w = 0;
            if (gk2 < K && gn < nValid) {
              const o = operandOffset(bLayout, ldb, gk2, gn);
              w = B[o]!;
              if (gradOf === 'b') w *= dAct(Y![o]!);
            }
            Bs[b.kk * DENSE_TILE + b.c] = w;
          }
        }
        for (let tid = 0; tid < WG * WG; tid++) {
          const tx = tid % WG;
          const ty = Math.floor(tid / WG);
          for (let kk = 0; kk < DENSE_BK; kk++) {
            for (let i = 0; i < 4; i++) {
              for (let jj = 0; jj < 4; jj++) {
                acc[tid * 16 + i * 4 + jj] = Math.fround(acc[tid * 16 + i * 4 + jj]! + Math.fround(As[kk * DENSE_TILE + ty + WG * i]! * Bs[kk * DENSE_TILE + tx + WG * jj]!));
              }
            }
          }
        }
      }
      for (let tid = 0; tid < WG * WG; tid++) {
        const tx = tid % WG;
        const ty = Math.floor(tid / WG);
        for (let i = 0; i < 4; i++) {
          for (let jj = 0; jj < 4; jj++) {
            const gm = m0 + ty + WG * i;
            const gn = n0 + tx + WG * jj;
            if (gm >= M || gn >= N) continue;
            let v = 0;
            if (gm < mValid && gn < nValid) {
              v = acc[tid * 16 + i * 4 + jj]!;
              if (spec.bias) v += bias![gn]!;
              v = applyActivation(spec.activation, v);
            }
            out[gm * N + gn] = v;
          }
        }
      }
    }
  }
  return out;
}

/** WGSL helpers the GELU kernels call (same constants as erfApprox). */
const WGSL_ERF = `
fn swErf(x : f32) -> f32 {
  let t = 1.0 / (1.0 + ${ERF_P} * abs(x));
  let poly = t * (${ERF_A[0]} + t * (${ERF_A[1]} + t * (${ERF_A[2]} + t * (${ERF_A[3]} + t * ${ERF_A[4]}))));
  return sign(x) * (1.0 - poly * exp(-x * x));
}
fn swGeluGrad(z : f32) -> f32 {
  return 0.5 * (1.0 + swErf(z * 0.7071067811865476)) + z * exp(-0.5 * z * z) * 0.3989422804014327;
}
`;

const WGSL_DACT: Record<GradActivation, (y: string) => string> = {
  gelu: (y) => `swGeluGrad(${y})`,
  relu: (y) => `select(0.0, 1.0, ${y} > 0.0)`,
  tanh: (y) => `(1.0 - ${y} * ${y})`,
  sigmoid: (y) => `(${y} * (1.0 - ${y}))`,
  linear: () => '1.0',
};

const WGSL_ACT: Record<FusedActivation, (v: string) => string> = {
  relu: (v) => `max(${v}, 0.0)`,
  tanh: (v) => `tanh(${v})`,
  sigmoid: (v) => `(1.0 / (1.0 + exp(-${v})))`,
  linear: (v) => v,
};

export class DenseMatmulProgram implements MoeWebGpuProgram {
  outputShape: number[];
  shaderKey: string;
  dispatchLayout = { x: [0, 1] };
  dispatch: [number, number, number];
  variableNames: string[];
  variableComponents: number[];
  uniforms = 'M : i32, N : i32, K : i32, mValid : i32, nValid : i32, lda : i32, ldb : i32,';
  workgroupSize: [number, number, number] = [WG, WG, 1];
  constructor(private spec: DenseMatmulSpec) {
    this.outputShape = [spec.M, spec.N];
    this.variableNames = ['A', 'B'];
    if (spec.gradOf !== 'none') this.variableNames.push('Y');
    if (spec.bias) this.variableNames.push('Bias');
    this.variableComponents = this.variableNames.map(() => 1);
    this.dispatch = denseDispatch(spec.M, spec.N);
    this.shaderKey = `swDense_${spec.aLayout}${spec.bLayout}_${spec.gradOf}_${spec.gradActivation}_${spec.bias}_${spec.activation}`;
  }
  getUserCode(): string {
    const s = this.spec;
    const off = (layout: 'n' | 't', ld: string, row: string, col: string) => (layout === 'n' ? `(${row}) * ${ld} + (${col})` : `(${col}) * ${ld} + (${row})`);
    const dact = WGSL_DACT[s.gradActivation];
    const loads: string[] = [];
    for (let j = 0; j < LOADS; j++) {
      const idx = `(tid + ${WG * WG * j})`;
      const [ar, akk] = s.aLayout === 'n' ? [`${idx} / ${DENSE_BK}`, `${idx} % ${DENSE_BK}`] : [`${idx} % ${DENSE_TILE}`, `${idx} / ${DENSE_TILE}`];
      const [bkk, bc] = s.bLayout === 'n' ? [`${idx} / ${DENSE_TILE}`, `${idx} % ${DENSE_TILE}`] : [`${idx} % ${DENSE_BK}`, `${idx} / ${DENSE_BK}`];
      loads.push(`
    {
      let r = ${ar}; let kk = ${akk};
      let gm = m0 + r; let gk = k0 + kk;
      var v = 0.0;
      if (gm < uniforms.mValid && gk < uniforms.K) {
        let o = ${off(s.aLayout, 'uniforms.lda', 'gm', 'gk')};
        v = A[o]${s.gradOf === 'a' ? ` * ${dact('Y[o]')}` : ''};
      }
      As[kk * ${DENSE_TILE} + r] = v;
    }
    {
      let kk = ${bkk}; let c = ${bc};
      let gk = k0 + kk; let gn = n0 + c;
      var w = 0.0;
      if (gk < uniforms.K && gn < uniforms.nValid) {
        let o = ${off(s.bLayout, 'uniforms.ldb', 'gk', 'gn')};
        w = B[o]${s.gradOf === 'b' ? ` * ${dact('Y[o]')}` : ''};
      }
      Bs[kk * ${DENSE_TILE} + c] = w;
    }`);
    }
    const fmas: string[] = [];
    for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) fmas.push(`acc[${i * 4 + j}] = fma(a${i}, b${j}, acc[${i * 4 + j}]);`);
    const epi = (v: string) => WGSL_ACT[s.activation](s.bias ? `(${v} + Bias[gn])` : v);
    return `${s.gradActivation === 'gelu' ? WGSL_ERF : ''}
var<workgroup> As: array<f32, ${DENSE_BK * DENSE_TILE}>;
var<workgroup> Bs: array<f32, ${DENSE_BK * DENSE_TILE}>;

fn main(index : i32) {
  let tx = i32(localId.x);
  let ty = i32(localId.y);
  let tid = ty * ${WG} + tx;
  let m0 = i32(workgroupId.y) * ${DENSE_TILE};
  let n0 = i32(workgroupId.x) * ${DENSE_TILE};
  var acc: array<f32, 16>;
  for (var i = 0; i < 16; i++) { acc[i] = 0.0; }
  for (var k0 = 0; k0 < uniforms.K; k0 += ${DENSE_BK}) {
${loads.join('\n')}
    workgroupBarrier();
    for (var kk = 0; kk < ${DENSE_BK}; kk++) {
      let a0 = As[kk * ${DENSE_TILE} + ty]; let a1 = As[kk * ${DENSE_TILE} + ty + 16];
      let a2 = As[kk * ${DENSE_TILE} + ty + 32]; let a3 = As[kk * ${DENSE_TILE} + ty + 48];
      let b0 = Bs[kk * ${DENSE_TILE} + tx]; let b1 = Bs[kk * ${DENSE_TILE} + tx + 16];
      let b2 = Bs[kk * ${DENSE_TILE} + tx + 32]; let b3 = Bs[kk * ${DENSE_TILE} + tx + 48];
      ${fmas.join('\n      ')}
    }
    workgroupBarrier();
  }
  for (var i = 0; i < 4; i++) {
    for (var j = 0; j < 4; j++) {
      let gm = m0 + ty + 16 * i;
      let gn = n0 + tx + 16 * j;
      if (gm < uniforms.M && gn < uniforms.N) {
        var v = 0.0;
        if (gm < uniforms.mValid && gn < uniforms.nValid) { v = ${epi('acc[i * 4 + j]')}; }
        result[gm * uniforms.N + gn] = v;
      }
    }
  }
}
`;
  }
}

/**
 * Column sums of dZ = dY ⊙ act'(Y) over the rows of contiguous [rows, cols] dY and Y, written into a
 * vector of `outLen` ≥ cols (zeros past `cols`): the full-size gradient of a sliced bias. A workgroup takes
 * BIAS_COLS columns with BIAS_LANES threads each (lane l sums rows l, l + BIAS_LANES, …), then adds its
 * lanes in workgroup memory (one thread per column looping over every row took 2.8 ms at 2048 rows).
 */
const BIAS_COLS = 8;
const BIAS_LANES = 32;

export class DenseBiasGradProgram implements MoeWebGpuProgram {
  outputShape: number[];
  shaderKey: string;
  dispatchLayout = { x: [0] };
  dispatch: [number, number, number];
  variableNames: string[];
  variableComponents: number[];
  uniforms = 'rows : i32, cols : i32,';
  workgroupSize: [number, number, number] = [BIAS_COLS * BIAS_LANES, 1, 1];
  constructor(
    outLen: number,
    private activation: GradActivation,
  ) {
    // A linear block's bias gradient reads no activation (an unused binding would break the bind group).
    this.variableNames = activation === 'linear' ? ['D'] : ['D', 'Y'];
    this.variableComponents = this.variableNames.map(() => 1);
    this.outputShape = [outLen];
    this.dispatch = [Math.ceil(outLen / BIAS_COLS), 1, 1];
    this.shaderKey = `swDenseBiasGrad_${activation}`;
  }
  getUserCode(): string {
    const term = this.activation === 'linear' ? 'D[o]' : `D[o] * ${WGSL_DACT[this.activation]('Y[o]')}`;
    return `${this.activation === 'gelu' ? WGSL_ERF : ''}
var<workgroup> swLanes: array<f32, ${BIAS_COLS * BIAS_LANES}>;
fn main(index : i32) {
  let tid = i32(localIndex);
  let lane = tid / ${BIAS_COLS};
  let col = i32(workgroupId.x) * ${BIAS_COLS} + tid % ${BIAS_COLS};
  var acc = 0.0;
  if (col < uniforms.cols) {
    for (var r = lane; r < uniforms.rows; r += ${BIAS_LANES}) {
      let o = r * uniforms.cols + col;
      acc += ${term};
    }
  }
  swLanes[tid] = acc;
  workgroupBarrier();
  for (var stride2 = ${BIAS_LANES / 2}; stride2 > 0; stride2 = stride2 / 2) {
    if (lane < stride2) { swLanes[tid] = swLanes[tid] + swLanes[tid + stride2 * ${BIAS_COLS}]; }
    workgroupBarrier();
  }
  if (lane == 0 && col < uniforms.outShape) { result[col] = swLanes[tid]; }
}
`;
  }
}

/** y = GELU(z) elementwise (the forward of a GELU block: the matmul kernel writes z, which the backward reads). */
export class DenseGeluProgram implements MoeWebGpuProgram {
  outputShape: number[];
  shaderKey = 'swDenseGelu';
  dispatchLayout: { x: number[] };
  dispatch: [number, number, number];
  variableNames = ['Z'];
  variableComponents = [1];
  size = true;
  workgroupSize: [number, number, number] = [64, 1, 1];
  constructor(shape: number[]) {
    this.outputShape = shape;
    this.dispatchLayout = { x: shape.map((_, i) => i) };
    const groups = Math.ceil(shape.reduce((p, d) => p * d, 1) / 64);
    const y = Math.ceil(groups / 65535);
    this.dispatch = [Math.ceil(groups / y), y, 1];
  }
  getUserCode(): string {
    return `${WGSL_ERF}
fn main(index : i32) {
  if (index >= uniforms.size) { return; }
  let z = Z[index];
  result[index] = 0.5 * z * (1.0 + swErf(z * 0.7071067811865476));
}
`;
  }
}

export const DENSE_KERNELS = { matmul: 'SwDenseMatmul', biasGrad: 'SwDenseBiasGrad', gelu: 'SwDenseGelu' } as const;

type Uniform = { type: 'int32' | 'float32'; data: number[] };
const i32 = (...data: number[]): Uniform[] => data.map((d) => ({ type: 'int32', data: [d] }));

let registered = false;

/** Registers the dense kernels for the 'webgpu' backend (idempotent). */
export function registerDenseKernels(): void {
  if (registered) return;
  registered = true;
  tf.registerKernel({
    kernelName: DENSE_KERNELS.matmul,
    backendName: 'webgpu',
    kernelFunc: ({ inputs, backend, attrs }) => {
      const spec = attrs as unknown as DenseMatmulSpec;
      const { a, b, y, bias } = inputs as Record<string, tf.TensorInfo | undefined>;
      const ins = [a!, b!];
      if (spec.gradOf !== 'none') ins.push(y!);
      if (spec.bias) ins.push(bias!);
      const program = new DenseMatmulProgram(spec);
      return (backend as unknown as WebGpuBackendLike).runWebGPUProgram(program, ins, 'float32', i32(spec.M, spec.N, spec.K, spec.mValid, spec.nValid, spec.lda, spec.ldb));
    },
  });
  tf.registerKernel({
    kernelName: DENSE_KERNELS.biasGrad,
    backendName: 'webgpu',
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { dy, y } = inputs as { dy: tf.TensorInfo; y?: tf.TensorInfo };
      const { outLen, activation } = attrs as unknown as { outLen: number; activation: GradActivation };
      const [rows, cols] = dy.shape;
      const ins = activation === 'linear' ? [dy] : [dy, y!];
      return (backend as unknown as WebGpuBackendLike).runWebGPUProgram(new DenseBiasGradProgram(outLen, activation), ins, 'float32', i32(rows, cols));
    },
  });
  tf.registerKernel({
    kernelName: DENSE_KERNELS.gelu,
    backendName: 'webgpu',
    kernelFunc: ({ inputs, backend }) => {
      const { z } = inputs as { z: tf.TensorInfo };
      return (backend as unknown as WebGpuBackendLike).runWebGPUProgram(new DenseGeluProgram(z.shape), [z], 'float32');
    },
  });
}
