/**
 * Mean softmax cross-entropy of integer labels on WebGPU in two dispatches (forward and backward) instead
 * of ~25 tfjs ops (one-hot, log-softmax's max / sub / exp / sum / log, the product with the one-hot, the
 * reductions, and their gradients):
 *
 *   loss = (1/N) Σ_r [ logsumexp(z_r) − z_r[label_r] ],   dz[r, c] = dy · (softmax(z_r)[c] − [c = label_r]) / N.
 *
 * Forward: one workgroup, each thread a strided set of rows (max-shifted logsumexp), then a tree sum.
 * Backward: one thread per logit (the row's max and sum recomputed; C is the number of classes).
 * Same function as core/train/evaluate.ts crossEntropy (checked against PyTorch by bench/checkDenseKernels.ts).
 * Labels outside [0, C) contribute logsumexp only (no target term), as a one-hot of such a label is all zero.
 */
import * as tf from '@tensorflow/tfjs';
import type { MoeWebGpuProgram, WebGpuBackendLike } from './moeKernels.js';

const WG = 256;

export class CrossEntropyLossProgram implements MoeWebGpuProgram {
  outputShape = [1];
  shaderKey = 'swCrossEntropyLoss';
  dispatchLayout = { x: [0] };
  dispatch: [number, number, number] = [1, 1, 1];
  variableNames = ['Z', 'L'];
  variableComponents = [1, 1];
  uniforms = 'N : i32, C : i32,';
  workgroupSize: [number, number, number] = [WG, 1, 1];
  getUserCode(): string {
    return `
var<workgroup> partial: array<f32, ${WG}>;
fn main(index : i32) {
  let tid = i32(localIndex);
  let N = uniforms.N;
  let C = uniforms.C;
  var acc = 0.0;
  for (var r = tid; r < N; r += ${WG}) {
    var m = -3.0e38;
    for (var c = 0; c < C; c++) { m = max(m, Z[r * C + c]); }
    var s = 0.0;
    for (var c = 0; c < C; c++) { s += exp(Z[r * C + c] - m); }
    let lb = L[r];
    var tgt = 0.0;
    if (lb >= 0 && lb < C) { tgt = Z[r * C + lb]; }
    acc += log(s) + m - tgt;
  }
  partial[tid] = acc;
  workgroupBarrier();
  for (var off = ${WG / 2}; off > 0; off = off / 2) {
    if (tid < off) { partial[tid] = partial[tid] + partial[tid + off]; }
    workgroupBarrier();
  }
  if (tid == 0) { result[0] = partial[0] / f32(N); }
}
`;
  }
}

export class CrossEntropyGradProgram implements MoeWebGpuProgram {
  outputShape: number[];
  shaderKey = 'swCrossEntropyGrad';
  dispatchLayout = { x: [0, 1] };
  dispatch: [number, number, number];
  variableNames = ['Z', 'L', 'D'];
  variableComponents = [1, 1, 1];
  uniforms = 'N : i32, C : i32,';
  workgroupSize: [number, number, number] = [64, 1, 1];
  constructor(N: number, C: number) {
    this.outputShape = [N, C];
    const groups = Math.ceil((N * C) / 64);
    const y = Math.ceil(groups / 65535);
    this.dispatch = [Math.ceil(groups / y), y, 1];
  }
  getUserCode(): string {
    return `
fn main(index : i32) {
  let N = uniforms.N;
  let C = uniforms.C;
  if (index >= N * C) { return; }
  let r = index / C;
  let c = index - r * C;
  var m = -3.0e38;
  for (var j = 0; j < C; j++) { m = max(m, Z[r * C + j]); }
  var s = 0.0;
  for (var j = 0; j < C; j++) { s += exp(Z[r * C + j] - m); }
  let p = exp(Z[index] - m) / s;
  let onehot = select(0.0, 1.0, L[r] == c);
  result[index] = D[0] * (p - onehot) / f32(N);
}
`;
  }
}

export const CROSS_ENTROPY_KERNELS = { loss: 'SwCrossEntropyLoss', grad: 'SwCrossEntropyGrad' } as const;

const i32 = (...data: number[]) => data.map((d) => ({ type: 'int32' as const, data: [d] }));
let registered = false;

export function registerCrossEntropyKernels(): void {
  if (registered) return;
  registered = true;
  tf.registerKernel({
    kernelName: CROSS_ENTROPY_KERNELS.loss,
    backendName: 'webgpu',
    kernelFunc: ({ inputs, backend }) => {
      const { logits, labels } = inputs as { logits: tf.TensorInfo; labels: tf.TensorInfo };
      const [N, C] = logits.shape;
      const out = (backend as unknown as WebGpuBackendLike).runWebGPUProgram(new CrossEntropyLossProgram(), [logits, labels], 'float32', i32(N, C));
      // A scalar: reshape the [1] output without a copy.
      return { dataId: out.dataId, shape: [], dtype: out.dtype };
    },
  });
  tf.registerKernel({
    kernelName: CROSS_ENTROPY_KERNELS.grad,
    backendName: 'webgpu',
    kernelFunc: ({ inputs, backend }) => {
      const { logits, labels, dy } = inputs as { logits: tf.TensorInfo; labels: tf.TensorInfo; dy: tf.TensorInfo };
      const [N, C] = logits.shape;
      return (backend as unknown as WebGpuBackendLike).runWebGPUProgram(new CrossEntropyGradProgram(N, C), [logits, labels, dy], 'float32', i32(N, C));
    },
  });
}

/** Benchmarks switch the fused loss off to time the plain one side by side (bench/runBench.ts). */
export const crossEntropyFusion = { enabled: true };

/** True when crossEntropyFused runs on the active backend. */
export function crossEntropyFusedSupported(): boolean {
  return crossEntropyFusion.enabled && tf.getBackend() === 'webgpu';
}

/** Mean softmax cross-entropy of logits [N, C] against int32 labels [N]; gradient to the logits only. */
export function crossEntropyFused(logits: tf.Tensor2D, labels: tf.Tensor1D): tf.Scalar {
  registerCrossEntropyKernels();
  // The backward reads the labels after the caller's tidy has ended: a cast made here would be gone by then.
  if (labels.dtype !== 'int32') throw new Error(`crossEntropyFused: labels must be int32 (got ${labels.dtype})`);
  const lab = labels;
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [z, save] = args as [tf.Tensor, tf.GradSaveFunc];
    save([z]);
    const value = tf.engine().runKernel(CROSS_ENTROPY_KERNELS.loss, { logits: z, labels: lab } as unknown as tf.NamedTensorMap) as tf.Scalar;
    return {
      value,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.engine().runKernel(CROSS_ENTROPY_KERNELS.grad, { logits: saved[0]!, labels: lab, dy } as unknown as tf.NamedTensorMap) as tf.Tensor,
    };
  });
  return op(logits) as tf.Scalar;
}
