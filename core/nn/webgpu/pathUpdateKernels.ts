/**
 * The lazy per-element optimizer updates of core/train/PathOptimizer.ts as WGSL kernels on WebGPU: one
 * dispatch per updated tensor (weight, and each slot) instead of ~20 tfjs ops per variable for Adam
 * (notEqual, where ×3, the moment updates, the per-element bias correction with two pows, …).
 *
 * Same arithmetic as PathOptimizer.apply (read its header): an element whose gradient is exactly 0 keeps
 * its weight and slots bit for bit; Adam counts updates per element (t) and corrects by
 * lr·√(1 − β₂ᵗ) / (1 − β₁ᵗ). Each kernel writes one output, so an Adam step is four dispatches: m, u, t,
 * then the weight from the new m, u, t. Checked against the tfjs path and PyTorch on the GPU
 * (bench/checkDenseKernels.ts).
 */
import * as tf from '@tensorflow/tfjs';
import type { MoeWebGpuProgram, WebGpuBackendLike } from './moeKernels.js';

export type PathUpdateTarget = 'sgd.v' | 'momentum.m' | 'momentum.v' | 'adam.m' | 'adam.u' | 'adam.t' | 'adam.v';

/** Inputs of each kernel, in binding order (V weight, G gradient, M/U/T slots, new slots primed). */
export const PATH_UPDATE_INPUTS: Record<PathUpdateTarget, string[]> = {
  'sgd.v': ['V', 'G'],
  'momentum.m': ['M', 'G'],
  'momentum.v': ['V', 'G', 'Mn'],
  'adam.m': ['M', 'G'],
  'adam.u': ['U', 'G'],
  'adam.t': ['T', 'G'],
  'adam.v': ['V', 'G', 'Mn', 'Un', 'Tn'],
};

const BODY: Record<PathUpdateTarget, string> = {
  'sgd.v': 'let next = V[index] - G[index] * uniforms.lr; let prev = V[index];',
  'momentum.m': 'let next = M[index] * uniforms.momentum + G[index]; let prev = M[index];',
  'momentum.v': 'let next = V[index] - Mn[index] * uniforms.lr; let prev = V[index];',
  'adam.m': 'let next = M[index] * uniforms.beta1 + G[index] * (1.0 - uniforms.beta1); let prev = M[index];',
  'adam.u': 'let g = G[index]; let next = U[index] * uniforms.beta2 + g * g * (1.0 - uniforms.beta2); let prev = U[index];',
  // t counts every update (not masked: + 0 where unused), as PathOptimizer does.
  'adam.t': 'let next = T[index] + 1.0; let prev = T[index];',
  'adam.v': `let t = max(Tn[index], 1.0);
  let step = uniforms.lr * sqrt(1.0 - pow(uniforms.beta2, t)) / (1.0 - pow(uniforms.beta1, t));
  let next = V[index] - Mn[index] / (sqrt(Un[index]) + uniforms.eps) * step; let prev = V[index];`,
};

export class PathUpdateProgram implements MoeWebGpuProgram {
  outputShape: number[];
  shaderKey: string;
  dispatchLayout: { x: number[] };
  dispatch: [number, number, number];
  variableNames: string[];
  variableComponents: number[];
  uniforms = 'lr : f32, beta1 : f32, beta2 : f32, eps : f32, momentum : f32,';
  size = true;
  workgroupSize: [number, number, number] = [256, 1, 1];
  constructor(
    shape: number[],
    private target: PathUpdateTarget,
  ) {
    this.outputShape = shape;
    this.dispatchLayout = { x: shape.map((_, i) => i) };
    this.variableNames = PATH_UPDATE_INPUTS[target];
    this.variableComponents = this.variableNames.map(() => 1);
    this.shaderKey = `swPathUpdate_${target}`;
    const groups = Math.ceil(shape.reduce((p, d) => p * d, 1) / 256);
    const y = Math.ceil(groups / 65535);
    this.dispatch = [Math.max(1, Math.ceil(groups / y)), y, 1];
  }
  getUserCode(): string {
    return `
fn main(index : i32) {
  if (index >= uniforms.size) { return; }
  ${BODY[this.target]}
  result[index] = select(prev, next, G[index] != 0.0);
}
`;
  }
}

export const PATH_UPDATE_KERNEL = 'SwPathUpdate';

/** Hyper-parameters every update kernel receives (PathOptimizer's constants). */
export interface PathUpdateParams {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  momentum: number;
}

let registered = false;

function register(): void {
  if (registered) return;
  registered = true;
  tf.registerKernel({
    kernelName: PATH_UPDATE_KERNEL,
    backendName: 'webgpu',
    kernelFunc: ({ inputs, backend, attrs }) => {
      const a = attrs as unknown as PathUpdateParams & { target: PathUpdateTarget };
      const ins = PATH_UPDATE_INPUTS[a.target].map((n) => (inputs as Record<string, tf.TensorInfo>)[n]!);
      const u = [a.lr, a.beta1, a.beta2, a.eps, a.momentum].map((d) => ({ type: 'float32' as const, data: [d] }));
      return (backend as unknown as WebGpuBackendLike).runWebGPUProgram(new PathUpdateProgram(ins[0]!.shape, a.target), ins, 'float32', u);
    },
  });
}

/** Benchmarks switch the fused update off to time the tfjs path side by side. */
export const pathUpdateFusion = { enabled: true };

export function pathUpdateFusedSupported(): boolean {
  return pathUpdateFusion.enabled && tf.getBackend() === 'webgpu';
}

/** One lazy update kernel: the new value of `target` from the named inputs (PATH_UPDATE_INPUTS). */
export function pathUpdate(target: PathUpdateTarget, inputs: Record<string, tf.Tensor>, params: PathUpdateParams): tf.Tensor {
  register();
  return tf.engine().runKernel(PATH_UPDATE_KERNEL, inputs as unknown as tf.NamedTensorMap, { ...params, target } as unknown as tf.NamedAttrMap) as tf.Tensor;
}
