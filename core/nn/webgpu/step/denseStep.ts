/**
 * A dense layer y = act(x·W[0:d, 0:w] + b[0:w]) (+ x when residual, d = w) in the compiled step, reading
 * the supernet's [inMax, wMax] kernel in place (row stride wMax). Forward: one matmul whose store adds the
 * bias, applies the activation and the residual. Backward: dz = dy ⊙ act′ folded into the loads of
 * dx = dz·Wᵀ (+ dy) and dW = xᵀ·dz, whose store is the optimizer update; db = Σ_rows dz with its update.
 * Three dispatches (two for the first layer, whose dx nobody needs).
 */
import type * as tf from '@tensorflow/tfjs';
import type { Activation } from '../../../space/SearchSpace.js';
import { recordColumnSum } from './columnSumStep.js';
import type { CompiledLayer, StepCompiler } from './compiler.js';
import { recordMatmul, splitKFor } from './matmul.js';
import type { Binding } from './program.js';

/** WGSL activations (exact GELU through erf, Abramowitz–Stegun 7.1.26, |ε| ≤ 1.5e-7, as denseKernels.ts). */
export const ACTIVATION_WGSL = /* wgsl */ `
fn erf_as(x: f32) -> f32 {
  let s = sign(x);
  let a = abs(x);
  let t = 1.0 / (1.0 + 0.3275911 * a);
  let y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * exp(-a * a);
  return s * y;
}
fn act_relu(z: f32) -> f32 { return max(z, 0.0); }
fn act_linear(z: f32) -> f32 { return z; }
fn act_tanh(z: f32) -> f32 { return tanh(z); }
fn act_sigmoid(z: f32) -> f32 { return 1.0 / (1.0 + exp(-z)); }
fn act_gelu(z: f32) -> f32 { return 0.5 * z * (1.0 + erf_as(z * 0.70710678118654752)); }
fn dact_relu(h: f32) -> f32 { return select(0.0, 1.0, h > 0.0); }
fn dact_linear(h: f32) -> f32 { return 1.0; }
fn dact_tanh(h: f32) -> f32 { return 1.0 - h * h; }
fn dact_sigmoid(h: f32) -> f32 { return h * (1.0 - h); }
fn dact_gelu(z: f32) -> f32 { return 0.5 * (1.0 + erf_as(z * 0.70710678118654752)) + z * 0.3989422804014327 * exp(-0.5 * z * z); }
`;

/** GELU's derivative needs the pre-activation; the others are functions of their output. */
export const needsPreActivation = (act: Activation) => act === 'gelu';

export const COMPILED_ACTIVATIONS: ReadonlySet<string> = new Set(['relu', 'linear', 'tanh', 'sigmoid', 'gelu']);

export interface DenseStepSpec {
  name: string;
  kernel: tf.Variable;
  bias: tf.Variable;
  /** Rows of the batch (B, or B·T for a sequence). */
  rows: number;
  d: number;
  w: number;
  act: Activation;
  residual: boolean;
}

/** Record the forward of a dense layer on `x` ([rows, d]); returns its output and its layer. */
export function compileDense(c: StepCompiler, s: DenseStepSpec, x: GPUBuffer): { y: GPUBuffer; layer: CompiledLayer } {
  const { rows, d, w, act } = s;
  if (!COMPILED_ACTIVATIONS.has(act)) throw new Error(`compiled dense: activation ${act} is not compiled`);
  const wMax = s.kernel.shape[1]!;
  const residual = s.residual && d === w;
  const pre = needsPreActivation(act);
  const p = c.program;
  const y = c.buffer(rows * w, `${s.name}.y`);
  // What act′ reads: the pre-activation (gelu), the activation output (residual: y − x is not stored), or y.
  const ref = pre || residual ? c.buffer(rows * w, `${s.name}.${pre ? 'z' : 'h'}`) : y;
  const W = c.read(s.kernel);
  const Bv = c.read(s.bias);
  const params = [['d', 'u32', d], ['w', 'u32', w], ['ldw', 'u32', wMax]] as const;
  const storeRef = ref === y ? '' : pre ? 'R[m * u.w + n] = z;' : 'R[m * u.w + n] = h;';
  recordMatmul(p, `${s.name}.forward`, {
    M: rows,
    N: w,
    K: d,
    a: 'X[m * u.d + k]',
    b: 'W[k * u.ldw + n]',
    helpers: ACTIVATION_WGSL,
    store: `let z = acc + Bv[n]; let h = act_${act}(z); ${storeRef} Y[m * u.w + n] = h${residual ? ' + X[m * u.d + n]' : ''};`,
    params,
    loadBindings: [{ name: 'X', buffer: x }, { name: 'W', buffer: W }],
    storeBindings: [
      { name: 'Bv', buffer: Bv },
      ...(residual ? [{ name: 'X', buffer: x }] : []),
      ...(ref === y ? [] : [{ name: 'R', buffer: ref, access: 'read_write' as const }]),
      { name: 'Y', buffer: y, access: 'read_write' },
    ],
  });

  const layer: CompiledLayer = {
    backward(dy, needDx) {
      const dz = (i: string) => (act === 'linear' ? `DY[${i}]` : `(DY[${i}] * dact_${act}(R[${i}]))`);
      const gradLoads: Binding[] = [{ name: 'DY', buffer: dy }, ...(act === 'linear' ? [] : [{ name: 'R', buffer: ref }])];
      let dx: GPUBuffer | null = null;
      if (needDx) {
        dx = c.buffer(rows * d, `${s.name}.dx`);
        recordMatmul(p, `${s.name}.dx`, {
          M: rows,
          N: d,
          K: w,
          a: dz('m * u.w + k'),
          b: 'W[n * u.ldw + k]',
          bFast: 'k',
          helpers: ACTIVATION_WGSL,
          store: `DX[m * u.d + n] = acc${residual ? ' + DY[m * u.w + n]' : ''};`,
          params,
          loadBindings: [...gradLoads, { name: 'W', buffer: W }],
          storeBindings: [...(residual ? [{ name: 'DY', buffer: dy }] : []), { name: 'DX', buffer: dx, access: 'read_write' }],
        });
      }
      const kUp = c.update(s.kernel, 'k');
      recordMatmul(p, `${s.name}.dW`, {
        M: d,
        N: w,
        K: rows,
        a: 'X[k * u.d + m]',
        aFast: 'm',
        b: dz('k * u.w + n'),
        helpers: ACTIVATION_WGSL,
        // The update names store bindings: a split-K partial-sum kernel must not declare it.
        storeHelpers: kUp.helpers,
        store: `${kUp.fn}(m * u.ldw + n, acc);`,
        params,
        loadBindings: [{ name: 'X', buffer: x }, ...gradLoads],
        storeBindings: kUp.bindings,
        // K is the batch: split it when the output has few tiles.
        splitK: splitKFor(d, w, rows),
      });
      // db = Σ_rows dz with its update: the shared column sum (./columnSumStep.ts).
      recordColumnSum(c, `${s.name}.db`, { rows, cols: w, value: dz('r * u.w + n'), bindings: gradLoads, params: [['w', 'u32', w]], helpers: ACTIVATION_WGSL, variable: s.bias });
      return dx;
    },
  };
  return { y, layer };
}
