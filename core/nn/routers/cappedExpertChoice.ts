/**
 * Expert choice with a per-token cap (Zhou et al., 2022, "Mixture-of-Experts with Expert Choice Routing",
 * §3.3 "Expert choice with additional constraint"; EC-CAP2 / EC-CAP3 in its experiments): the assignment A
 * (tokens × experts here, the paper's transpose) solves the entropy-regularised linear program
 *   max ⟨S, A⟩ + λ·H(A)   s.t.  Σ_t A[t, e] = C (each expert's capacity),  Σ_e A[t, e] ≤ b (the cap),
 *                              0 ≤ A[t, e] ≤ 1,
 * S the router probabilities, H(A) = −Σ A log A, and each expert then takes its top C tokens by A.
 * The paper solves the program with Dykstra's algorithm; so does this module, in the KL (Bregman) form:
 * start from exp(S/λ), then cyclically project onto the three constraint sets — the capacity rows by
 * scaling (affine, no correction), the per-token cap and the box by their closed-form KL projections with
 * Dykstra's multiplicative corrections (Bauschke & Lewis, 2000) — for a fixed number of iterations.
 *
 * Deviations, stated: the paper gives no λ nor iteration count. The defaults here are λ = 0.02 on softmax
 * scores in [0, 1] (much smaller underflows float32 exp) and 100 iterations; a smaller λ with more
 * iterations reaches the integer program's optimum (λ 0.01, 300 iterations: checked by brute force).
 * After the experts' top-C choice, a token still above the cap keeps its b assignments of largest A (ties:
 * lower slot): the cap always holds, and such an expert runs fewer than C tokens — with slack (S·C < b·T) this
 * did not happen in the tests; in the tight case S·C = b·T (EC-CAP2 at capacity factor 2) 124 of 128 expert
 * slots were filled (64 tokens, 8 experts).
 * Every path computes the same fixed iterations: the training layer and the graph reference
 * with these tensor ops, ONNX unrolled (core/export/onnxExport.ts).
 */
import * as tf from '@tensorflow/tfjs';
import { expertChoiceMaskTensor, sumOneHots, type RouteMask } from '../moe/routers.js';

/** The paper's EC-CAP settings beside the capacity: cap b, entropy weight λ, Dykstra iterations. */
export interface ExpertCap {
  maxPerToken: number;
  entropy: number;
  iterations: number;
}

export const DEFAULT_CAP_ENTROPY = 0.02;
export const DEFAULT_CAP_ITERATIONS = 100;

/** Dykstra's KL projections for the capped program: A [T, S] from probabilities [T, S], capacity C per slot. */
export function cappedAssignmentTensor(probs: tf.Tensor2D, capacity: number, cap: ExpertCap): tf.Tensor2D {
  return tf.tidy(() => {
    // exp((S − max_t S)/λ): each expert's column is rescaled by the first projection anyway.
    let a: tf.Tensor2D = tf.exp(tf.div(tf.sub(probs, tf.max(probs, 0, true)), cap.entropy));
    let qCap: tf.Tensor2D = tf.onesLike(a);
    let qBox: tf.Tensor2D = tf.onesLike(a);
    for (let it = 0; it < cap.iterations; it++) {
      a = tf.mul(a, tf.div(capacity, tf.maximum(tf.sum(a, 0, true), 1e-30)));
      let y = tf.mul(a, qCap);
      a = tf.mul(y, tf.minimum(1, tf.div(cap.maxPerToken, tf.maximum(tf.sum(y, 1, true), 1e-30))));
      qCap = tf.div(y, tf.maximum(a, 1e-30));
      y = tf.mul(a, qBox);
      a = tf.minimum(y, 1);
      qBox = tf.div(y, tf.maximum(a, 1e-30));
    }
    return a;
  });
}

/** [T, S] 0/1: each slot's top-C tokens by the capped assignment, then at most b slots per token. */
export function cappedExpertChoiceMaskTensor(probs: tf.Tensor2D, capacity: number, cap: ExpertCap): tf.Tensor2D {
  return tf.tidy(() => {
    const a = cappedAssignmentTensor(probs, capacity, cap);
    const chosen = expertChoiceMaskTensor(a, capacity);
    const S = probs.shape[1];
    const b = Math.min(cap.maxPerToken, S);
    // Rank a token's chosen slots by A (unchosen ones below every chosen one: A ≤ 1 < 2).
    const ranked = tf.sub(tf.add(a, tf.mul(chosen, 2)), 2);
    const keep = sumOneHots(tf.topk(ranked, b).indices as tf.Tensor2D, S);
    return tf.mul(chosen, keep) as tf.Tensor2D;
  });
}

/** The plain-array assignment (the reference; float64). */
export function cappedAssignment(probs: ArrayLike<number>, T: number, S: number, capacity: number, cap: ExpertCap): Float64Array {
  const a = new Float64Array(T * S);
  for (let s = 0; s < S; s++) {
    let max = -Infinity;
    for (let t = 0; t < T; t++) max = Math.max(max, probs[t * S + s]!);
    for (let t = 0; t < T; t++) a[t * S + s] = Math.exp((probs[t * S + s]! - max) / cap.entropy);
  }
  const qCap = new Float64Array(T * S).fill(1);
  const qBox = new Float64Array(T * S).fill(1);
  for (let it = 0; it < cap.iterations; it++) {
    for (let s = 0; s < S; s++) {
      let sum = 0;
      for (let t = 0; t < T; t++) sum += a[t * S + s]!;
      const f = capacity / Math.max(sum, 1e-30);
      for (let t = 0; t < T; t++) a[t * S + s]! *= f;
    }
    for (let t = 0; t < T; t++) {
      let sum = 0;
      for (let s = 0; s < S; s++) sum += a[t * S + s]! * qCap[t * S + s]!;
      const f = Math.min(1, cap.maxPerToken / Math.max(sum, 1e-30));
      for (let s = 0; s < S; s++) {
        const i = t * S + s;
        const y = a[i]! * qCap[i]!;
        a[i] = y * f;
        qCap[i] = y / Math.max(a[i]!, 1e-30);
      }
    }
    for (let i = 0; i < T * S; i++) {
      const y = a[i]! * qBox[i]!;
      a[i] = Math.min(y, 1);
      qBox[i] = y / Math.max(a[i]!, 1e-30);
    }
  }
  return a;
}

/**
 * The mask on row-major probabilities (the plain-array selection): through the same float32 tensor ops as
 * training, so both round alike and choose alike (the float64 `cappedAssignment` is the tests' reference).
 */
export function cappedExpertChoiceMask(probs: ArrayLike<number>, T: number, S: number, capacity: number, cap: ExpertCap): RouteMask {
  const data = tf.tidy(() => cappedExpertChoiceMaskTensor(tf.tensor2d(Float32Array.from(probs), [T, S]), capacity, cap).dataSync());
  return { tokens: T, slots: S, data: Uint8Array.from(data) };
}
