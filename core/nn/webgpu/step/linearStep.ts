/**
 * A token-wise linear map of the transformer step: y = act(x·[W₀ | W₁ | …] + [b₀ | b₁ | …]) (+ an addend),
 * x [rows, d], each group g the first d rows and first w_g columns of a supernet kernel [inMax, ld_g] and
 * its bias. Several groups make one product: Q, K and V (three variables) are one matmul of N = 3·h·dₕ
 * whose B-load picks the variable by column. The addend is a residual stream or a position table, added
 * after the activation at a WGSL index of (m, n).
 *
 * Backward (dy at y): dz = dy ⊙ act′ folded into the loads (GELU's from the stored pre-activation, as
 * denseStep.ts), dx = dz·Wᵀ in one matmul over all groups, then dW_g = xᵀ·dz_g and db_g = Σ_rows dz_g with
 * their updates: over many rows as split-K partials of all groups at once and reductions that update
 * several variables per dispatch (./weightGradStep.ts), over few rows one matmul per group whose store
 * updates and one column sum for the biases (./columnSumStep.ts). The addend's gradient (dy
 * itself) is the caller's: a residual's is added where the stream's gradient is formed (layerNormStep.ts).
 */
import type * as tf from '@tensorflow/tfjs';
import type { Activation } from '../../../space/SearchSpace.js';
import { recordColumnSums } from './columnSumStep.js';
import type { CompiledLayer, StepCompiler } from './compiler.js';
import { ACTIVATION_WGSL, COMPILED_ACTIVATIONS, needsPreActivation } from './denseStep.js';
import { recordMatmul, splitKFor } from './matmul.js';
import type { Binding, Param } from './program.js';
import { recordWeightGrads } from './weightGradStep.js';

export interface LinearGroup {
  kernel: tf.Variable;
  bias: tf.Variable;
  /** Columns of this group (the first w of the kernel's). */
  w: number;
}

export interface LinearSpec {
  name: string;
  rows: number;
  /** Input width (the first d rows of every kernel). */
  d: number;
  groups: readonly LinearGroup[];
  act: Activation;
  /** Added to y after the activation: `buffer[index]`, index a WGSL u32 expression of m, n and `params`. */
  add?: { buffer: GPUBuffer; index: string; params?: readonly Param[] };
}

/** Record y = act(x·W + b) (+ add) on x [rows, d]; returns y [rows, Σw] and its layer. */
export function compileLinear(c: StepCompiler, s: LinearSpec, x: GPUBuffer): { y: GPUBuffer; layer: CompiledLayer } {
  const { rows, d, act, groups } = s;
  if (!COMPILED_ACTIVATIONS.has(act)) throw new Error(`compiled linear: activation ${act} is not compiled`);
  const N = groups.reduce((a, g) => a + g.w, 0);
  const offsets = groups.map((_, i) => groups.slice(0, i).reduce((a, g) => a + g.w, 0));
  const pre = needsPreActivation(act);
  const p = c.program;
  const y = c.buffer(rows * N, `${s.name}.y`);
  // act′ reads the pre-activation (gelu) or the activation's output; y itself when nothing is added to it.
  const ref = act === 'linear' ? null : pre || s.add ? c.buffer(rows * N, `${s.name}.${pre ? 'z' : 'h'}`) : y;
  const W = groups.map((g) => c.read(g.kernel));
  const Bv = groups.map((g) => c.read(g.bias));
  const params: Param[] = [['d', 'u32', d], ['nc', 'u32', N], ...groups.flatMap((g, i): Param[] => [[`o${i}`, 'u32', offsets[i]!], [`ld${i}`, 'u32', g.kernel.shape[1]!]]), ...(s.add?.params ?? [])];
  // W(k, n) and b(n) of the concatenated groups: the last group whose offset n has reached.
  const pick = (f: (i: number) => string) => groups.map((_, i) => (i === groups.length - 1 ? `return ${f(i)};` : `if (n < u.o${i + 1}) { return ${f(i)}; }`)).join(' ');
  const wAt = `fn wAt(k: u32, n: u32) -> f32 { ${pick((i) => `W${i}[k * u.ld${i} + n - u.o${i}]`)} }`;
  const bAt = `fn bAt(n: u32) -> f32 { ${pick((i) => `B${i}[n - u.o${i}]`)} }`;
  const wBindings: Binding[] = W.map((buffer, i) => ({ name: `W${i}`, buffer }));
  const refStore = ref === null || ref === y ? '' : `R[m * u.nc + n] = ${pre ? 'z' : 'h'};`;
  recordMatmul(p, `${s.name}.forward`, {
    M: rows,
    N,
    K: d,
    a: 'X[m * u.d + k]',
    b: 'wAt(k, n)',
    helpers: ACTIVATION_WGSL,
    loadHelpers: wAt,
    storeHelpers: bAt,
    store: `let z = acc + bAt(n); let h = act_${act}(z); ${refStore} Y[m * u.nc + n] = h${s.add ? ` + ADD[${s.add.index}]` : ''};`,
    params,
    loadBindings: [{ name: 'X', buffer: x }, ...wBindings],
    storeBindings: [
      ...Bv.map((buffer, i): Binding => ({ name: `B${i}`, buffer })),
      ...(s.add ? [{ name: 'ADD', buffer: s.add.buffer }] : []),
      ...(ref === null || ref === y ? [] : [{ name: 'R', buffer: ref, access: 'read_write' as const }]),
      { name: 'Y', buffer: y, access: 'read_write' },
    ],
  });

  const layer: CompiledLayer = {
    backward(dy, needDx) {
      const dz = (i: string) => (ref === null ? `DY[${i}]` : `(DY[${i}] * dact_${act}(R[${i}]))`);
      const gradLoads: Binding[] = [{ name: 'DY', buffer: dy }, ...(ref === null ? [] : [{ name: 'R', buffer: ref }])];
      let dx: GPUBuffer | null = null;
      // dx reads the weights: recorded before the updates below change them.
      if (needDx) {
        dx = c.buffer(rows * d, `${s.name}.dx`);
        recordMatmul(p, `${s.name}.dx`, {
          M: rows,
          N: d,
          K: N,
          a: dz('m * u.nc + k'),
          // wAt(row, column) with the product's k as the column: consecutive k are consecutive words.
          b: 'wAt(n, k)',
          bFast: 'k',
          helpers: ACTIVATION_WGSL,
          loadHelpers: wAt,
          store: 'DX[m * u.d + n] = acc;',
          params,
          loadBindings: [...gradLoads, ...wBindings],
          storeBindings: [{ name: 'DX', buffer: dx, access: 'read_write' }],
        });
      }
      const splits = splitKFor(d + 1, N, rows);
      if (splits > 1) {
        recordWeightGrads(c, { name: s.name, rows, d, nc: N, groups: groups.map((g, i) => ({ ...g, offset: offsets[i]! })), x, dz, dzBindings: gradLoads, helpers: ref === null ? '' : ACTIVATION_WGSL, splits });
        return dx;
      }
      // Few rows: each dW in one matmul whose store updates, the biases in one packed column sum.
      groups.forEach((g, i) => {
        const up = c.update(g.kernel, 'k');
        recordMatmul(p, `${s.name}.dW${groups.length > 1 ? i : ''}`, {
          M: d,
          N: g.w,
          K: rows,
          a: 'X[k * u.d + m]',
          aFast: 'm',
          b: dz(`k * u.nc + u.o + n`),
          helpers: ACTIVATION_WGSL,
          storeHelpers: up.helpers,
          store: `${up.fn}(m * u.ld + n, acc);`,
          params: [['d', 'u32', d], ['nc', 'u32', N], ['o', 'u32', offsets[i]!], ['ld', 'u32', g.kernel.shape[1]!]],
          loadBindings: [{ name: 'X', buffer: x }, ...gradLoads],
          storeBindings: up.bindings,
        });
      });
      recordColumnSums(c, `${s.name}.db`, {
        rows,
        targets: groups.map((g, i) => ({ variable: g.bias, cols: g.w, value: dz(`r * u.nc + ${offsets[i]!}u + n`) })),
        bindings: gradLoads,
        params: [['nc', 'u32', N]],
        helpers: ref === null ? '' : ACTIVATION_WGSL,
      });
      return dx;
    },
  };
  return { y, layer };
}
