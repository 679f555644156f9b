/**
 * The MoE FFN on WebGPU through the custom kernels of moeKernels.ts: same semantics as moeFfnReference
 * (read its header), fp32 throughout.
 *
 * Forward:  probs = softmax(x·routerW) (tfjs) → route (1 kernel: top-k + positions within capacity)
 *           → Xe = gather(x) → H = relu(Xe·W1 + b1) → Ye = H·W2 + b2 (grouped matmuls over kept rows)
 *           → y = Σ gate·Ye[slot] (combine).
 * Backward (one tf.customGrad over x, gates, w1, b1, w2, b2, and one for gates = keep · probs[t, e]
 * (÷ Σ when normalising); softmax and the router matmul are left to tfjs autodiff):
 *           dYe = gate·dy[token]; dGate = ⟨dy, Ye[slot]⟩; dA = (dYe·W2ᵀ) ⊙ [H > 0];
 *           dW2 = Hᵀ·dYe; dW1 = Xeᵀ·dA; db = column sums; dXe = dA·W1ᵀ; dx = Σ_r dXe[slot].
 * Only rows below each expert's kept count are computed, so the padding the capacity factor adds costs
 * nothing. Requires d and h divisible by 4 (vec4 loads); fp32 only (the H100's Dawn adapter has no
 * shader-f16).
 */
import * as tf from '@tensorflow/tfjs';
import { MOE_KERNELS, registerMoeKernels, routeLayout, type GroupedMatmulMode } from './moeKernels.js';
import { detach, type MoeFfnOptions, type MoeFfnResult } from './moeFfnReference.js';

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
  // Routing constants come from a detached handle on probs: nothing integer reaches the gradient tape.
  const probsConst = detach(probs);
  const route = run(MOE_KERNELS.route, { probs: probsConst }, { k, capacity: C, priority: opts.priority ?? 'rank' });
  probsConst.dispose();
  const expertIndex = route.slice(lay.expertOf, T * k).reshape([T, k]) as tf.Tensor2D;
  // A kernel, not greaterEqual(·, 0): a JS-number operand is uploaded through a new staging buffer.
  const keep = tf.tidy(() => run(MOE_KERNELS.keep, { route }, { assignments: T * k, slotOff: lay.slotOf }).reshape([T, k])) as tf.Tensor2D;
  // gate = keep · probs[t, e] (normalised): one kernel forward, one backward into dProbs (softmax and the
  // router matmul stay with tfjs autodiff).
  const gatesOp = (pIn: tf.Tensor, save: (ts: tf.Tensor[]) => void) => {
    save([pIn]);
    const value = run(MOE_KERNELS.gates, { probs: pIn, route }, { k, normalize, slotOff: lay.slotOf });
    const gradFunc = (dGates: tf.Tensor, saved: tf.Tensor[]) =>
      run(MOE_KERNELS.gatesGrad, { dGates, probs: saved[0]!, route }, { k, normalize, slotOff: lay.slotOf });
    return { value, gradFunc };
  };
  const gates = tf.customGrad(gatesOp as unknown as Parameters<typeof tf.customGrad>[0])(probs);

  // customGrad runs its forward inside a tidy: what the backward needs goes through save().
  const experts = (xIn: tf.Tensor, gIn: tf.Tensor, w1In: tf.Tensor, b1In: tf.Tensor, w2In: tf.Tensor, b2In: tf.Tensor, save: (ts: tf.Tensor[]) => void) => {
    const xe = run(MOE_KERNELS.gather, { x: xIn, route }, { rows: E * C, k, assignOff: lay.assignmentOf });
    const hidden = groupedMatmul('nn', xe, w1In, route, { batches: E, M: C, N: h, K: d, countOff: lay.count }, { bias: b1In, relu: true });
    const ye = groupedMatmul('nn', hidden, w2In, route, { batches: E, M: C, N: d, K: h, countOff: lay.count }, { bias: b2In });
    const y = run(MOE_KERNELS.combine, { y: ye, route, gates: gIn }, { tokens: T, k, slotOff: lay.slotOf }) as tf.Tensor2D;
    save([xe, hidden, ye, gIn, w1In, w2In]);

    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [xeS, hiddenS, yeS, gS, w1S, w2S] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
      const dye = run(MOE_KERNELS.gather, { x: dy, route, scale: gS }, { rows: E * C, k, assignOff: lay.assignmentOf });
      const dGates = run(MOE_KERNELS.gateGrad, { dy, y: yeS, route }, { assignments: T * k, k, slotOff: lay.slotOf });
      const w2t = tf.transpose(w2S, [0, 2, 1]);
      const dA = groupedMatmul('nn', dye, w2t, route, { batches: E, M: C, N: h, K: d, countOff: lay.count }, { mask: hiddenS });
      const dW2 = groupedMatmul('tn', hiddenS, dye, route, { batches: E, M: h, N: d, K: C, countOff: lay.count });
      const dW1 = groupedMatmul('tn', xeS, dA, route, { batches: E, M: d, N: h, K: C, countOff: lay.count });
      const chunk = 64;
      const db2 = tf.tidy(() => run(MOE_KERNELS.columnSum, { y: dye, route }, { experts: E, capacity: C, chunk, countOff: lay.count }).sum(1));
      const db1 = tf.tidy(() => run(MOE_KERNELS.columnSum, { y: dA, route }, { experts: E, capacity: C, chunk, countOff: lay.count }).sum(1));
      const w1t = tf.transpose(w1S, [0, 2, 1]);
      const dxe = groupedMatmul('nn', dA, w1t, route, { batches: E, M: C, N: d, K: h, countOff: lay.count });
      const dx = run(MOE_KERNELS.combine, { y: dxe, route }, { tokens: T, k, slotOff: lay.slotOf });
      return [dx, dGates, dW1, db1, dW2, db2];
    };
    return { value: y, gradFunc };
  };

  const y = tf.customGrad(experts as unknown as Parameters<typeof tf.customGrad>[0])(x, gates, w1, b1, w2, b2) as tf.Tensor2D;
  return { y, probs, expertIndex, keep };
}
