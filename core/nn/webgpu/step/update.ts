/**
 * PathOptimizer's lazy update (core/train/PathOptimizer.ts) as a WGSL function a gradient kernel calls
 * the moment it has an element's gradient, so the gradient never goes to memory and the update costs no
 * dispatch of its own. Same rule as the tfjs path: an element whose gradient is exactly 0 keeps its weight
 * and moments bit for bit; Adam counts updates per element for its bias correction.
 */
import type * as tf from '@tensorflow/tfjs';
import type { Binding, StepProgram } from './program.js';

export type UpdateKind = 'sgd' | 'momentum' | 'adam';

/** A variable's buffers for one update site: the weight and its optimizer slots (PathOptimizer's order). */
export interface UpdateBuffers {
  kind: UpdateKind;
  variable: tf.Variable;
  weight: GPUBuffer;
  /** adam: first moment, second moment, per-element count; momentum: velocity; sgd: none. */
  slots: GPUBuffer[];
}

export interface UpdateSite {
  bindings: Binding[];
  /** WGSL: `fn <fn>(i: u32, g: f32)` */
  helpers: string;
  fn: string;
}

/**
 * The update of `u` as a function named `<prefix>_update(i, g)` over bindings named `<prefix>_V`,
 * `<prefix>_M`, … (unique per kernel through the prefix), reading the step's scalars from `sv`.
 */
/**
 * 1 − eˣ for x ≤ 0 without the float32 cancellation of 1 − pow(β, t) near t = 1 (β₂ = 0.999: 1 − β₂ in
 * float32 is 1.3e-5 off, which scales every early Adam step): a Taylor series for small |x|.
 */
const oneMinusExp = (name: string) => `fn ${name}(x: f32) -> f32 {
  if (x > -0.05) { return -x * (1.0 + x * (0.5 + x * (0.16666667 + x * 0.041666668))); }
  return 1.0 - exp(x);
}`;

export function updateSite(p: StepProgram, u: UpdateBuffers, prefix: string): UpdateSite {
  const V = `${prefix}_V`;
  const fn = `${prefix}_update`;
  const sv: Binding = { name: 'sv', buffer: p.stepValues, access: 'uniform', type: 'StepValues' };
  const rw = (name: string, buffer: GPUBuffer): Binding => ({ name, buffer, access: 'read_write' });
  if (u.kind === 'sgd') {
    return { fn, bindings: [rw(V, u.weight), sv], helpers: `fn ${fn}(i: u32, g: f32) { if (g != 0.0) { ${V}[i] = ${V}[i] - sv.lr * g; } }` };
  }
  if (u.kind === 'momentum') {
    const M = `${prefix}_M`;
    return {
      fn,
      bindings: [rw(V, u.weight), rw(M, u.slots[0]!), sv],
      helpers: `fn ${fn}(i: u32, g: f32) { if (g != 0.0) { let m = ${M}[i] * sv.momentum + g; ${M}[i] = m; ${V}[i] = ${V}[i] - m * sv.lr; } }`,
    };
  }
  const [M, U, T] = [`${prefix}_M`, `${prefix}_U`, `${prefix}_T`];
  return {
    fn,
    bindings: [rw(V, u.weight), rw(M, u.slots[0]!), rw(U, u.slots[1]!), rw(T, u.slots[2]!), sv],
    helpers: `${oneMinusExp(`${prefix}_omexp`)}
fn ${fn}(i: u32, g: f32) {
  if (g == 0.0) { return; }
  let t = ${T}[i] + 1.0;
  let m = ${M}[i] * sv.beta1 + g * (1.0 - sv.beta1);
  let v = ${U}[i] * sv.beta2 + (g * g) * (1.0 - sv.beta2);
  ${M}[i] = m;
  ${U}[i] = v;
  ${T}[i] = t;
  let step = (sv.lr * sqrt(${prefix}_omexp(t * sv.lnBeta2))) / ${prefix}_omexp(t * sv.lnBeta1);
  ${V}[i] = ${V}[i] - (m / (sqrt(v) + sv.eps)) * step;
}`,
  };
}
