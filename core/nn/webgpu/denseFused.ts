/**
 * A dense block y = act(x · W[0:d, 0:w] + b[0:w]) of a supernet on WebGPU through denseKernels.ts: one
 * dispatch forward, three backward (dx, the full-size dW, the full-size db), with the kernel and bias
 * variables read in place — no slice ops, and no pad ops to put the slices' gradients back.
 *
 * Same function as the plain tfjs path (Supernet.applyDense): fp32, products summed in a different
 * order (checked against PyTorch on the GPU by bench/checkDenseKernels.ts). GELU (exact x·Φ(x), erf by
 * Abramowitz & Stegun 7.1.26, |error| ≤ 1.5e-7) takes one more dispatch forward: the matmul writes the
 * pre-activation z, which the backward reads for Φ(z) + z·φ(z).
 */
import * as tf from '@tensorflow/tfjs';
import type { Activation } from '../../space/SearchSpace.js';
import { DENSE_KERNELS, registerDenseKernels, type DenseMatmulSpec, type FusedActivation, type GradActivation } from './denseKernels.js';

/** Benchmarks switch the fused path off to time the plain one side by side (bench/runBench.ts --dense). */
export const denseFusion = { enabled: true };

const FUSABLE: ReadonlySet<string> = new Set<GradActivation>(['relu', 'tanh', 'sigmoid', 'linear', 'gelu']);

/** True when denseFused runs this activation on the active backend. */
export function denseFusedSupported(activation: Activation): boolean {
  return denseFusion.enabled && tf.getBackend() === 'webgpu' && FUSABLE.has(activation);
}

/** Shapes of one dense block: batch T, input width d ≤ dMax rows of the kernel, output width w ≤ wMax. */
export interface DenseShape {
  T: number;
  d: number;
  w: number;
  dMax: number;
  wMax: number;
}

/**
 * Forward: y[T, w] = act(x[T, d] · W[0:d, 0:w] + b[0:w]), W stored [dMax, wMax]. For 'gelu' the kernel
 * stops at the pre-activation z (a GELU kernel follows).
 */
export function denseForwardSpec(s: DenseShape, activation: GradActivation): DenseMatmulSpec {
  const epilogue: FusedActivation = activation === 'gelu' ? 'linear' : activation;
  return { M: s.T, N: s.w, K: s.d, mValid: s.T, nValid: s.w, aLayout: 'n', bLayout: 'n', lda: s.d, ldb: s.wMax, gradOf: 'none', gradActivation: 'linear', bias: true, activation: epilogue };
}

/** dx[T, d] = (dy ⊙ act'(y)) · W[0:d, 0:w]ᵀ. */
export function denseInputGradSpec(s: DenseShape, activation: GradActivation): DenseMatmulSpec {
  const gradOf = activation === 'linear' ? 'none' : 'a';
  return { M: s.T, N: s.d, K: s.w, mValid: s.T, nValid: s.d, aLayout: 'n', bLayout: 't', lda: s.w, ldb: s.wMax, gradOf, gradActivation: activation, bias: false, activation: 'linear' };
}

/** dW[dMax, wMax] = xᵀ · (dy ⊙ act'(y)) in the [0:d, 0:w] window, 0 outside it. */
export function denseKernelGradSpec(s: DenseShape, activation: GradActivation): DenseMatmulSpec {
  const gradOf = activation === 'linear' ? 'none' : 'b';
  return { M: s.dMax, N: s.wMax, K: s.T, mValid: s.d, nValid: s.w, aLayout: 't', bLayout: 'n', lda: s.d, ldb: s.w, gradOf, gradActivation: activation, bias: false, activation: 'linear' };
}

const run = (name: string, inputs: Record<string, tf.Tensor>, attrs: object) =>
  tf.engine().runKernel(name, inputs as unknown as tf.NamedTensorMap, attrs as unknown as tf.NamedAttrMap) as tf.Tensor;

/**
 * act(x · kernel[0:d, 0:width] + bias[0:width]) with kernel [dMax, wMax] and bias [wMax] (the supernet's
 * variables, whole). Gradients reach x and the whole kernel and bias (zero outside the slice).
 */
export function denseFused(x: tf.Tensor2D, kernel: tf.Tensor2D, bias: tf.Tensor1D, width: number, activation: Activation): tf.Tensor2D {
  if (!FUSABLE.has(activation)) throw new Error(`denseFused: activation "${activation}" is not fused (use the plain path)`);
  const act = activation as GradActivation;
  registerDenseKernels();
  const [T, d] = x.shape;
  const [dMax, wMax] = kernel.shape;
  if (d > dMax || width > wMax || bias.shape[0] !== wMax) throw new Error(`denseFused: x [${T}, ${d}] · kernel [${dMax}, ${wMax}] (bias [${bias.shape[0]}]) cannot give width ${width}`);
  const shape: DenseShape = { T, d, w: width, dMax, wMax };
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xIn, kIn, bIn, save] = args as [tf.Tensor, tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    const z = run(DENSE_KERNELS.matmul, { a: xIn, b: kIn, bias: bIn }, denseForwardSpec(shape, act));
    // GELU: the backward reads z; every other activation's derivative reads the output.
    const y = act === 'gelu' ? run(DENSE_KERNELS.gelu, { z }, {}) : z;
    save([xIn, kIn, z]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xs, ks, ys] = saved as [tf.Tensor, tf.Tensor, tf.Tensor];
        const withY = (ins: Record<string, tf.Tensor>) => (act === 'linear' ? ins : { ...ins, y: ys });
        const dx = run(DENSE_KERNELS.matmul, withY({ a: dy, b: ks }), denseInputGradSpec(shape, act));
        const dW = run(DENSE_KERNELS.matmul, withY({ a: xs, b: dy }), denseKernelGradSpec(shape, act));
        const db = run(DENSE_KERNELS.biasGrad, withY({ dy }), { outLen: wMax, activation: act });
        return [dx, dW, db];
      },
    };
  });
  return op(x, kernel, bias) as tf.Tensor2D;
}
