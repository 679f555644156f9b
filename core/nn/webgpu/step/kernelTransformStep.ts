/**
 * OFA's elastic-kernel transformation in the compiled step (core/nn/blocks/conv.ts `activeKernel` with
 * `kernelTransform`; Cai et al., 2020, §3.2; mit-han-lab/once-for-all `get_active_filter`): from the largest
 * kernel down to the chosen size, each step takes the t×t centre of the current f×f kernel and multiplies
 * every (input, output) channel pair's t² taps by the learnt [t², t²] matrix T: K_i = T_i · centre(K_{i−1}),
 * K_0 = the supernet kernel's [kMax, kMax, cin, c] slice.
 *
 * Forward: one product per step into a scratch [t², cin·c] kernel (which the conv then reads, row strides
 * cin·c); its store also keeps a copy of T_i, because T_i is updated before the backward of K_{i−1} reads
 * it. Backward from the conv's materialised dK_L, per step in reverse: dT_i = dK_i · centre(K_{i−1})ᵀ (its
 * store the update, split over the cin·c channel pairs) and dcentre = T_iᵀ · dK_i, which is the gradient of
 * K_{i−1} on its centre (zero around it): the supernet kernel's update for i = 1, else a scratch read
 * through its centre offset by the next step.
 */
import type * as tf from '@tensorflow/tfjs';
import type { StepCompiler } from './compiler.js';
import { recordMatmul, splitKFor } from './matmul.js';
import type { Param } from './program.js';

export interface KernelTransform {
  from: number;
  to: number;
  matrix: tf.Variable;
}

export interface KernelChain {
  /** The transformed kernel, [k, k, cin, c] contiguous. */
  kernel: GPUBuffer;
  /** Record the backward of the chain from the gradient at `kernel` (same layout); updates T and the kernel. */
  backward(dk: GPUBuffer): void;
}

/** Record the chain `steps` (largest first, ending at the chosen size) on `kernel` [kMax, kMax, inMax, cMax]. */
export function recordKernelChain(c: StepCompiler, name: string, kernel: tf.Variable, steps: readonly KernelTransform[], cin: number, cout: number): KernelChain {
  const [kMax, , inMax, cMax] = kernel.shape as [number, number, number, number];
  const p = c.program;
  const N = cin * cout;
  const V = c.read(kernel);
  // K_{i−1} at tap q of its t×t centre, channel pair n = i·c + o (u.o: the centre's offset in the f×f grid).
  const centreOf = (isVar: boolean) =>
    isVar
      ? 'fn centre(q: u32, n: u32) -> f32 { return Kp[(((q / u.tn + u.o) * u.kf + q % u.tn + u.o) * u.ldi + n / u.co) * u.ldo + n % u.co]; }'
      : 'fn centre(q: u32, n: u32) -> f32 { return Kp[((q / u.tn + u.o) * u.kf + q % u.tn + u.o) * u.nn + n]; }';
  const layers: { prev: GPUBuffer; isVar: boolean; copy: GPUBuffer; params: Param[]; step: KernelTransform }[] = [];
  let prev = V;
  let f = kMax;
  for (const step of steps) {
    if (step.from !== f) throw new Error(`${name}: kernel transform ${step.from}→${step.to} after size ${f}`);
    const t = step.to;
    const tt = t * t;
    const params: Param[] = [['tn', 'u32', t], ['tt', 'u32', tt], ['o', 'u32', (f - t) / 2], ['kf', 'u32', f], ['ldi', 'u32', inMax], ['ldo', 'u32', cMax], ['co', 'u32', cout], ['nn', 'u32', N]];
    const out = c.buffer(tt * N, `${name}.ktrans${f}to${t}`);
    const copy = c.buffer(tt * tt, `${name}.ktrans${f}to${t}.T`);
    const T = c.read(step.matrix);
    recordMatmul(p, `${name}.ktrans${f}to${t}`, {
      M: tt,
      N,
      K: tt,
      a: 'T[m * u.tt + k]',
      b: 'centre(k, n)',
      loadHelpers: centreOf(prev === V),
      store: 'K2[m * u.nn + n] = acc; if (n == 0u) { for (var q = 0u; q < u.tt; q++) { TC[m * u.tt + q] = T[m * u.tt + q]; } }',
      params,
      loadBindings: [{ name: 'T', buffer: T }, { name: 'Kp', buffer: prev }],
      storeBindings: [{ name: 'T', buffer: T }, { name: 'K2', buffer: out, access: 'read_write' }, { name: 'TC', buffer: copy, access: 'read_write' }],
    });
    layers.push({ prev, isVar: prev === V, copy, params, step });
    prev = out;
    f = t;
  }
  return {
    kernel: prev,
    backward(dk) {
      // dK_i(p, j): the conv's gradient for the last step; for the others the next step's dcentre, on the centre.
      let grad = dk;
      let dK = 'fn dK(p: u32, j: u32) -> f32 { return D[p * u.nn + j]; }';
      let gradParams: Param[] = [];
      for (let i = layers.length - 1; i >= 0; i--) {
        const { prev, isVar, copy, params, step } = layers[i]!;
        const tt = step.to * step.to;
        const all = [...params, ...gradParams];
        const tUp = c.update(step.matrix, 'tm');
        recordMatmul(p, `${name}.ktrans${step.from}to${step.to}.dT`, {
          M: tt,
          N: tt,
          K: N,
          a: 'dK(m, k)',
          b: 'centre(n, k)',
          bFast: 'k',
          loadHelpers: dK + centreOf(isVar),
          storeHelpers: tUp.helpers,
          store: `${tUp.fn}(m * u.tt + n, acc);`,
          params: all,
          loadBindings: [{ name: 'D', buffer: grad }, { name: 'Kp', buffer: prev }],
          storeBindings: tUp.bindings,
          splitK: splitKFor(tt, tt, N),
        });
        const dcentre = isVar ? null : c.buffer(tt * N, `${name}.ktrans${step.from}to${step.to}.dcentre`);
        const kUp = isVar ? c.update(kernel, 'k') : null;
        recordMatmul(p, `${name}.ktrans${step.from}to${step.to}.dK`, {
          M: tt,
          N,
          K: tt,
          a: 'TC[k * u.tt + m]',
          aFast: 'm',
          b: 'dK(k, n)',
          loadHelpers: dK,
          storeHelpers: kUp?.helpers ?? '',
          store: kUp ? `${kUp.fn}((((m / u.tn + u.o) * u.kf + m % u.tn + u.o) * u.ldi + n / u.co) * u.ldo + n % u.co, acc);` : 'DC[m * u.nn + n] = acc;',
          params: all,
          loadBindings: [{ name: 'TC', buffer: copy }, { name: 'D', buffer: grad }],
          storeBindings: kUp ? kUp.bindings : [{ name: 'DC', buffer: dcentre!, access: 'read_write' }],
        });
        if (dcentre) {
          grad = dcentre;
          // The previous step's output grid is this step's f×f; its gradient is dcentre on the centre.
          gradParams = [['go', 'u32', (step.from - step.to) / 2], ['gt', 'u32', step.to]];
          dK = `fn dK(p: u32, j: u32) -> f32 {
  let py = p / u.kf2;
  let px = p % u.kf2;
  if (py < u.go || px < u.go || py >= u.go + u.gt || px >= u.go + u.gt) { return 0.0; }
  return D[((py - u.go) * u.gt + px - u.go) * u.nn + j];
}`;
          gradParams.push(['kf2', 'u32', step.from]);
        }
      }
    },
  };
}
