/**
 * Fake quantisation of a weight kernel for quantisation-aware supernet training, the mechanism of the blocks'
 * `bits` choice (bit width as a search dimension: SimQ-NAS, Sridhar et al. 2023; One QuantLLM for All, Yi et
 * al. 2024 — every subnet of the supernet trains at its sampled bit width, so inherited-weight accuracy of a
 * low-bit subnet is meaningful).
 *
 * Forward: the same per-output-channel symmetric quantiser as the `quantize` compression method and the
 * lowering (core/nn/graph/quantize.ts): s_c = max_i |W[i, c]| / qmax, qmax = 2^(bits−1) − 1, W̃ = clamp(round(W / s_c),
 * −qmax, qmax) · s_c, halves rounded up as Math.round does (floor(v + ½)), so the trained forward is the
 * exported model's forward.
 * Backward: the straight-through estimator (Bengio et al. 2013; as in QAT, Jacob et al. 2018): ∂W̃/∂W = 1 for
 * weights inside the clip range (where the clamp to ±qmax does not bind) and 0 outside (with min-max steps nothing is outside;
 * the mask matters when the step is not the channel's max). The step is treated as a constant (no gradient
 * through max |W|).
 * Deviation: SimQ-NAS quantises activations too (NNCF); here only weights are quantised (weight-only, as the
 * compression methods and the ONNX Q/DQ export).
 */
import * as tf from '@tensorflow/tfjs';
import { qmaxOf } from './graph/quantize.js';

/** Per-output-channel steps of a [in, out] kernel (float32, as quantizeKernel rounds them). */
function channelSteps(w: tf.Tensor2D, qmax: number): tf.Tensor1D {
  return tf.tidy(() => {
    const maxAbs = tf.max(tf.abs(w), 0) as tf.Tensor1D;
    // An all-zero channel gets step 1 (its codes are 0), as quantizeKernel does.
    return tf.where(tf.greater(maxAbs, 0), tf.div(maxAbs, qmax), tf.onesLike(maxAbs)) as tf.Tensor1D;
  });
}

/** W̃ = fake-quantised `w` [in, out] at `bits` ∈ [2, 8] per output channel, gradient by the straight-through estimator. */
export function fakeQuantKernel(w: tf.Tensor, bits: number): tf.Tensor2D {
  const qmax = qmaxOf(bits);
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const k = args[0] as tf.Tensor2D;
    const save = args[1] as tf.GradSaveFunc;
    const step = channelSteps(k, qmax);
    const v = tf.div(k, step);
    const codes = tf.clipByValue(tf.floor(tf.add(v, 0.5)), -qmax, qmax);
    // Inside the clip range: where the clamp does not bind (|W/s| < qmax + ½, so the float32 rounding of the
    // channel's max, |W/s| = qmax(1 ± ε), stays inside).
    const inside = tf.cast(tf.less(tf.abs(v), qmax + 0.5), 'float32');
    save([inside]);
    return { value: tf.mul(codes, step) as tf.Tensor2D, gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.mul(dy, saved[0]!) };
  });
  return f(w as tf.Tensor2D) as tf.Tensor2D;
}

/** `w` at `bits` (fake-quantised), or `w` itself for float (undefined or ≥ 32). */
export function maybeFakeQuant(w: tf.Tensor, bits: number | undefined): tf.Tensor2D {
  return bits === undefined || bits >= 32 ? (w as tf.Tensor2D) : fakeQuantKernel(w, bits);
}
