/**
 * Training-mode BatchNorm of a supernet conv block on WebGPU in a few kernels instead of ~20 tfjs ops
 * forward and ~30 backward (Supernet.applyConv's primitive-op form: mean, centring, variance, rsqrt,
 * scale, shift, the slices of γ and β and their gradients' pads):
 *
 *   stats  = [μ_c ; σ²_c] over the N·H·W rows of y (biased variance, two passes)       1 dispatch
 *   out    = (y − μ) · rsqrt(σ² + ε) · γ[c] + β[c]                                    1 dispatch
 *   backward, x̂ = (y − μ)·rstd:  s = [Σ dz ; Σ dz·x̂] per channel                     1 dispatch
 *            dy = γ·rstd·(dz − s₀/M − x̂·s₁/M)                                         1 dispatch
 *            dγ = s₁, dβ = s₀, written full-size (zeros past the block's channels)    2 dispatches
 *   running statistics: v[c] ← m·v[c] + (1 − m)·stat[c] for c < channels               1 dispatch each
 *
 * Same function as the primitive-op form (y's statistics carry no gradient of their own there either:
 * they are differentiated through, as here — the backward above is the full BatchNorm gradient). γ and β
 * are the supernet's whole variables, read in place. Checked against PyTorch on the GPU
 * (bench/checkDenseKernels.ts); `batchNormTrainReference` is the same arithmetic on the CPU for tests.
 */
import * as tf from '@tensorflow/tfjs';
import type { MoeWebGpuProgram, WebGpuBackendLike } from './moeKernels.js';

/** Benchmarks switch it off to time the primitive-op form side by side. */
export const bnFusion = { enabled: true };

export function batchNormFusedSupported(): boolean {
  return bnFusion.enabled && tf.getBackend() === 'webgpu';
}

type Mode = 'stats' | 'apply' | 'gradSums' | 'gradInput' | 'padRow' | 'running';

const INPUTS: Record<Mode, string[]> = {
  stats: ['Y'],
  apply: ['Y', 'S', 'G', 'B'],
  gradSums: ['D', 'Y', 'S'],
  gradInput: ['D', 'Y', 'S', 'G', 'Q'],
  padRow: ['S'],
  running: ['V', 'S'],
};

const WG = 256;

class BatchNormProgram implements MoeWebGpuProgram {
  outputShape: number[];
  shaderKey: string;
  dispatchLayout: { x: number[] };
  dispatch: [number, number, number];
  variableNames: string[];
  variableComponents: number[];
  uniforms = 'M : i32, C : i32, row : i32, eps : f32, momentum : f32,';
  size = true;
  workgroupSize: [number, number, number] = [WG, 1, 1];
  constructor(
    private mode: Mode,
    outputShape: number[],
    channels: number,
  ) {
    this.outputShape = outputShape;
    this.dispatchLayout = { x: outputShape.map((_, i) => i) };
    this.variableNames = INPUTS[mode];
    this.variableComponents = this.variableNames.map(() => 1);
    this.shaderKey = `swBatchNorm_${mode}`;
    if (mode === 'stats' || mode === 'gradSums') this.dispatch = [channels, 1, 1];
    else {
      const groups = Math.ceil(outputShape.reduce((p, d) => p * d, 1) / WG);
      const y = Math.ceil(groups / 65535);
      this.dispatch = [Math.max(1, Math.ceil(groups / y)), y, 1];
    }
  }
  getUserCode(): string {
    const reduce = (v: string) => `
  swPart[tid] = ${v};
  workgroupBarrier();
  for (var off = ${WG / 2}; off > 0; off = off / 2) {
    if (tid < off) { swPart[tid] = swPart[tid] + swPart[tid + off]; }
    workgroupBarrier();
  }`;
    const rstd = 'inverseSqrt(S[uniforms.C + c] + uniforms.eps)';
    switch (this.mode) {
      case 'stats':
        // One workgroup per channel: the mean, then the (biased) variance around it.
        return `
var<workgroup> swPart: array<f32, ${WG}>;
fn main(index : i32) {
  let tid = i32(localIndex);
  let c = i32(workgroupId.x);
  let C = uniforms.C;
  var acc = 0.0;
  for (var r = tid; r < uniforms.M; r += ${WG}) { acc += Y[r * C + c]; }
  ${reduce('acc')}
  let mean = swPart[0] / f32(uniforms.M);
  workgroupBarrier();
  var sq = 0.0;
  for (var r = tid; r < uniforms.M; r += ${WG}) { let d = Y[r * C + c] - mean; sq += d * d; }
  ${reduce('sq')}
  if (tid == 0) { result[c] = mean; result[C + c] = swPart[0] / f32(uniforms.M); }
}
`;
      case 'apply':
        return `
fn main(index : i32) {
  if (index >= uniforms.size) { return; }
  let c = index % uniforms.C;
  result[index] = (Y[index] - S[c]) * ${rstd} * G[c] + B[c];
}
`;
      case 'gradSums':
        return `
var<workgroup> swPart: array<f32, ${WG}>;
fn main(index : i32) {
  let tid = i32(localIndex);
  let c = i32(workgroupId.x);
  let C = uniforms.C;
  let mean = S[c];
  let rs = ${rstd};
  var a0 = 0.0;
  var a1 = 0.0;
  for (var r = tid; r < uniforms.M; r += ${WG}) {
    let dz = D[r * C + c];
    a0 += dz;
    a1 += dz * (Y[r * C + c] - mean) * rs;
  }
  ${reduce('a0')}
  let s0 = swPart[0];
  workgroupBarrier();
  ${reduce('a1')}
  if (tid == 0) { result[c] = s0; result[C + c] = swPart[0]; }
}
`;
      case 'gradInput':
        return `
fn main(index : i32) {
  if (index >= uniforms.size) { return; }
  let C = uniforms.C;
  let c = index % C;
  let rs = ${rstd};
  let xhat = (Y[index] - S[c]) * rs;
  let m = f32(uniforms.M);
  result[index] = G[c] * rs * (D[index] - Q[c] / m - xhat * Q[C + c] / m);
}
`;
      case 'padRow':
        return `
fn main(index : i32) {
  if (index >= uniforms.size) { return; }
  var v = 0.0;
  if (index < uniforms.C) { v = S[uniforms.row * uniforms.C + index]; }
  result[index] = v;
}
`;
      case 'running':
        return `
fn main(index : i32) {
  if (index >= uniforms.size) { return; }
  var v = V[index];
  if (index < uniforms.C) { v = uniforms.momentum * v + (1.0 - uniforms.momentum) * S[uniforms.row * uniforms.C + index]; }
  result[index] = v;
}
`;
    }
  }
}

const KERNEL = 'SwBatchNorm';
let registered = false;

function register(): void {
  if (registered) return;
  registered = true;
  tf.registerKernel({
    kernelName: KERNEL,
    backendName: 'webgpu',
    kernelFunc: ({ inputs, backend, attrs }) => {
      const a = attrs as unknown as { mode: Mode; M: number; C: number; row: number; eps: number; momentum: number; outLen: number };
      const ins = INPUTS[a.mode].map((n) => (inputs as Record<string, tf.TensorInfo>)[n]!);
      const shape = a.mode === 'stats' || a.mode === 'gradSums' ? [2, a.C] : a.mode === 'padRow' || a.mode === 'running' ? [a.outLen] : ins[0]!.shape;
      const u = [
        { type: 'int32' as const, data: [a.M] },
        { type: 'int32' as const, data: [a.C] },
        { type: 'int32' as const, data: [a.row] },
        { type: 'float32' as const, data: [a.eps] },
        { type: 'float32' as const, data: [a.momentum] },
      ];
      return (backend as unknown as WebGpuBackendLike).runWebGPUProgram(new BatchNormProgram(a.mode, shape, a.C), ins, 'float32', u);
    },
  });
}

function bn(mode: Mode, inputs: Record<string, tf.Tensor>, a: { M: number; C: number; row?: number; eps?: number; momentum?: number; outLen?: number }): tf.Tensor {
  register();
  const attrs = { mode, row: 0, eps: 0, momentum: 0, outLen: 0, ...a };
  return tf.engine().runKernel(KERNEL, inputs as unknown as tf.NamedTensorMap, attrs as unknown as tf.NamedAttrMap) as tf.Tensor;
}

/**
 * Training BatchNorm of y [N, H, W, C] with γ, β of length ≥ C (the first C entries used). Returns the
 * normalised output (gradients to y, γ, β — full-size for γ, β) and the batch statistics [2, C]
 * (mean; biased variance), which carry no gradient.
 */
export function batchNormTrainFused(y: tf.Tensor4D, gamma: tf.Tensor1D, beta: tf.Tensor1D, eps: number): { y: tf.Tensor4D; stats: tf.Tensor2D } {
  const C = y.shape[3];
  const M = y.size / C;
  const cMax = gamma.shape[0];
  if (beta.shape[0] !== cMax || cMax < C) throw new Error(`batchNormTrainFused: γ [${cMax}], β [${beta.shape[0]}] for ${C} channels`);
  const stats = bn('stats', { Y: y }, { M, C }) as tf.Tensor2D;
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [yIn, gIn, bIn, save] = args as [tf.Tensor, tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    // The statistics go through save(): tfjs runs the forward of a gradient in a tidy, so a closure
    // tensor would be gone by the backward.
    save([yIn, gIn, stats]);
    return {
      value: bn('apply', { Y: yIn, S: stats, G: gIn, B: bIn }, { M, C, eps }),
      gradFunc: (dz: tf.Tensor, saved: tf.Tensor[]) => {
        const [ys, gs, st] = saved as [tf.Tensor, tf.Tensor, tf.Tensor];
        const sums = bn('gradSums', { D: dz, Y: ys, S: st }, { M, C, eps });
        const dy = bn('gradInput', { D: dz, Y: ys, S: st, G: gs, Q: sums }, { M, C, eps });
        const dGamma = bn('padRow', { S: sums }, { M, C, row: 1, outLen: cMax });
        const dBeta = bn('padRow', { S: sums }, { M, C, row: 0, outLen: cMax });
        return [dy, dGamma, dBeta];
      },
    };
  });
  return { y: op(y, gamma, beta) as tf.Tensor4D, stats };
}

/** v[c] ← momentum·v[c] + (1 − momentum)·stats[row, c] for c < stats' channels; the rest of v unchanged. */
export function updateRunningStat(v: tf.Variable, stats: tf.Tensor2D, row: 0 | 1, momentum: number): void {
  const C = stats.shape[1];
  v.assign(bn('running', { V: v, S: stats }, { M: 0, C, row, momentum, outLen: v.shape[0]! }) as tf.Tensor1D);
}

/**
 * The same arithmetic in JavaScript (float64): forward output, batch statistics, and the gradients for a
 * given dz — what the kernels compute, for CPU tests against tfjs autodiff of the primitive-op form.
 */
export function batchNormTrainReference(y: ArrayLike<number>, M: number, C: number, gamma: ArrayLike<number>, beta: ArrayLike<number>, dz: ArrayLike<number>, eps: number) {
  const mean = new Float64Array(C);
  const variance = new Float64Array(C);
  for (let r = 0; r < M; r++) for (let c = 0; c < C; c++) mean[c]! += y[r * C + c]! / M;
  for (let r = 0; r < M; r++) for (let c = 0; c < C; c++) variance[c]! += (y[r * C + c]! - mean[c]!) ** 2 / M;
  const rstd = Array.from(variance, (v) => 1 / Math.sqrt(v + eps));
  const out = new Float64Array(M * C);
  const s0 = new Float64Array(C);
  const s1 = new Float64Array(C);
  for (let r = 0; r < M; r++) {
    for (let c = 0; c < C; c++) {
      const i = r * C + c;
      const xhat = (y[i]! - mean[c]!) * rstd[c]!;
      out[i] = xhat * gamma[c]! + beta[c]!;
      s0[c]! += dz[i]!;
      s1[c]! += dz[i]! * xhat;
    }
  }
  const dy = new Float64Array(M * C);
  for (let r = 0; r < M; r++) {
    for (let c = 0; c < C; c++) {
      const i = r * C + c;
      const xhat = (y[i]! - mean[c]!) * rstd[c]!;
      dy[i] = gamma[c]! * rstd[c]! * (dz[i]! - s0[c]! / M - (xhat * s1[c]!) / M);
    }
  }
  return { out, mean, variance, dy, dGamma: s1, dBeta: s0 };
}
