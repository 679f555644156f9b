/**
 * The MoE FFN on WebGPU through the custom kernels of moeKernels.ts: same semantics as moeFfnReference
 * (read its header), fp32 throughout.
 *
 * Forward:  probs = softmax(x·routerW) (tfjs) → route (1 kernel: top-k + positions within capacity)
 *           → Xe = gather(x) → H = relu(Xe·W1 + b1) → Ye = H·W2 + b2 (grouped matmuls over kept rows)
 *           → y = Σ gate·Ye[slot] (combine).
 * Backward (one tf.customGrad over x, probs, w1, b1, w2, b2; softmax and the router matmul are left to
 * tfjs autodiff): dYe = gate·dy[token]; dGate = ⟨dy, Ye[slot]⟩; dA = (dYe·W2ᵀ) ⊙ [H > 0];
 *           dW2 = Hᵀ·dYe; dW1 = Xeᵀ·dA; db = column sums; dXe = dA·W1ᵀ; dx = Σ_r dXe[slot].
 * Only rows below each expert's kept count are computed, so the padding the capacity factor adds costs
 * nothing. Requires d and h divisible by 4 (vec4 loads); fp32 only (the H100's Dawn adapter has no
 * shader-f16).
 */
import * as tf from '@tensorflow/tfjs';
import { MOE_KERNELS, registerMoeKernels, routeLayout, type GroupedMatmulMode } from './moeKernels.js';
import type { MoeFfnOptions, MoeFfnResult } from './moeFfnReference.js';

type Attrs = Record<string, number | boolean | string>;

const run = (name: string, inputs: Record<string, tf.Tensor>, attrs: Attrs) =>
  tf.engine().runKernel(name, inputs as unknown as tf.NamedTensorMap, attrs as unknown as tf.NamedAttrMap) as tf.Tensor;

/** Per-expert matmul over the kept rows; see GroupedMatmulProgram. */
export function groupedMatmul(
  mode: GroupedMatmulMode,
  a: tf.Tensor,
  b: tf.Tensor,
  route: tf.Tensor,
  shape: { batches: number; M: number; N: number; K: number; countOff: number },
  epilogue: { bias?: tf.Tensor; relu?: boolean; mask?: tf.Tensor } = {},
): tf.Tensor3D {
  const inputs: Record<string, tf.Tensor> = { a, b, route };
  if (epilogue.bias) inputs.bias = epilogue.bias;
  if (epilogue.mask) inputs.mask = epilogue.mask;
  return run(MOE_KERNELS.matmul, inputs, { mode, ...shape, relu: epilogue.relu ?? false }) as tf.Tensor3D;
}

/** True when the active backend can run moeFfnFused for these shapes. */
export function moeFfnFusedSupported(d: number, h: number): boolean {
  return tf.getBackend() === 'webgpu' && d % 4 === 0 && h % 4 === 0;
}

export function moeFfnFused(
  x: tf.Tensor2D,
  routerW: tf.Tensor2D,
  w1: tf.Tensor3D,
  b1: tf.Tensor2D,
  w2: tf.Tensor3D,
  b2: tf.Tensor2D,
  opts: MoeFfnOptions,
): MoeFfnResult {
  registerMoeKernels();
  const [T, d] = x.shape;
  const E = routerW.shape[1];
  const h = w1.shape[2];
  const { k, capacity: C } = opts;
  const normalize = opts.normalize ?? false;
  if (!moeFfnFusedSupported(d, h)) throw new Error(`moeFfnFused needs the webgpu backend and d, h divisible by 4 (d=${d}, h=${h})`);
  const lay = routeLayout(T, k, E, C);
  const probs = tf.softmax(tf.matMul(x, routerW)) as tf.Tensor2D;
  let expertIndex: tf.Tensor2D | undefined;
  let keep: tf.Tensor2D | undefined;

  const experts = (xIn: tf.Tensor, pIn: tf.Tensor, w1In: tf.Tensor, b1In: tf.Tensor, w2In: tf.Tensor, b2In: tf.Tensor) => {
    const route = run(MOE_KERNELS.route, { probs: pIn }, { k, capacity: C, priority: opts.priority ?? 'rank' });
    expertIndex = route.slice(lay.expertOf, T * k).reshape([T, k]) as tf.Tensor2D;
    keep = tf.tidy(() => tf.greaterEqual(route.slice(lay.slotOf, T * k), 0).toFloat().reshape([T, k])) as tf.Tensor2D;
    // Raw gate = probs[t, e]; kept gates scale the expert outputs.
    const oneHot = tf.tidy(() => tf.oneHot(expertIndex!.reshape([T * k]), E).toFloat().reshape([T, k, E]));
    const raw = tf.tidy(() => tf.sum(tf.mul(oneHot, pIn.expandDims(1)), 2)) as tf.Tensor2D;
    const rawSum = normalize ? tf.sum(raw, 1, true) : undefined;
    const gates = tf.tidy(() => tf.mul(rawSum ? tf.div(raw, rawSum) : raw, keep!).reshape([T * k]));

    const xe = run(MOE_KERNELS.gather, { x: xIn, route }, { rows: E * C, k, assignOff: lay.assignmentOf });
    const hidden = groupedMatmul('nn', xe, w1In, route, { batches: E, M: C, N: h, K: d, countOff: lay.count }, { bias: b1In, relu: true });
    const ye = groupedMatmul('nn', hidden, w2In, route, { batches: E, M: C, N: d, K: h, countOff: lay.count }, { bias: b2In });
    const y = run(MOE_KERNELS.combine, { y: ye, route, gates }, { tokens: T, k, slotOff: lay.slotOf }) as tf.Tensor2D;

    const gradFunc = (dy: tf.Tensor) => {
      const dye = run(MOE_KERNELS.gather, { x: dy, route, scale: gates }, { rows: E * C, k, assignOff: lay.assignmentOf });
      const dGate = run(MOE_KERNELS.gateGrad, { dy, y: ye, route }, { assignments: T * k, k, slotOff: lay.slotOf });
      const dProbs = tf.tidy(() => {
        let dRaw = dGate.reshape([T, k]);
        if (rawSum) {
          // g = raw / S  ⇒  ∂/∂raw_j = dg_j / S − Σ_r dg_r raw_r / S²
          const dot = tf.sum(tf.mul(dRaw, raw), 1, true);
          dRaw = tf.sub(tf.div(dRaw, rawSum), tf.div(dot, tf.square(rawSum)));
        }
        return tf.sum(tf.mul(oneHot, dRaw.expandDims(2)), 1);
      });
      const w2t = tf.transpose(w2In, [0, 2, 1]);
      const dA = groupedMatmul('nn', dye, w2t, route, { batches: E, M: C, N: h, K: d, countOff: lay.count }, { mask: hidden });
      const dW2 = groupedMatmul('tn', hidden, dye, route, { batches: E, M: h, N: d, K: C, countOff: lay.count });
      const dW1 = groupedMatmul('tn', xe, dA, route, { batches: E, M: d, N: h, K: C, countOff: lay.count });
      const chunk = 64;
      const db2 = tf.tidy(() => run(MOE_KERNELS.columnSum, { y: dye, route }, { experts: E, capacity: C, chunk, countOff: lay.count }).sum(1));
      const db1 = tf.tidy(() => run(MOE_KERNELS.columnSum, { y: dA, route }, { experts: E, capacity: C, chunk, countOff: lay.count }).sum(1));
      const w1t = tf.transpose(w1In, [0, 2, 1]);
      const dxe = groupedMatmul('nn', dA, w1t, route, { batches: E, M: C, N: d, K: h, countOff: lay.count });
      const dx = run(MOE_KERNELS.combine, { y: dxe, route }, { tokens: T, k, slotOff: lay.slotOf });
      for (const t of [dye, dGate, w2t, dA, w1t, dxe]) t.dispose();
      return [dx, dProbs, dW1, db1, dW2, db2];
    };
    return { value: y, gradFunc };
  };

  const y = tf.customGrad(experts as unknown as Parameters<typeof tf.customGrad>[0])(x, probs, w1, b1, w2, b2) as tf.Tensor2D;
  return { y, probs, expertIndex: expertIndex!, keep: keep! };
}
