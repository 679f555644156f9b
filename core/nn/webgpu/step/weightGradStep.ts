/**
 * The weight (and bias) gradients of a token-wise linear map over many rows, as split-K partial sums and
 * reductions that update several variables per dispatch: dW_g = xᵀ·dz_g for every column group g of one
 * product (Q, K and V are three variables of one dz), db_g = Σ_rows dz_g.
 *
 * One matmul writes P[z] = x[chunk z]ᵀ·dz[chunk z] for all groups together (./matmul.ts
 * recordMatmulPartials); when x's width leaves room in the last 64-row tile, a row of ones is appended
 * to xᵀ so P also holds the bias partial sums (free: the tile is computed anyway). Then one thread per
 * element sums its column of P over z and applies the update, with as many variables per kernel as their
 * update sites fit (./updatePacking.ts: all six of Q/K/V under SGD, one under Adam). The biases that did
 * not fit the tile take one column-sum dispatch (./columnSumStep.ts), packed the same way.
 */
import type * as tf from '@tensorflow/tfjs';
import { recordColumnSums } from './columnSumStep.js';
import type { StepCompiler } from './compiler.js';
import { recordMatmulPartials } from './matmul.js';
import type { Binding, Param } from './program.js';
import { packUpdateSites, uniqueBindings } from './updatePacking.js';

export interface WeightGradGroup {
  kernel: tf.Variable;
  bias: tf.Variable;
  w: number;
  /** First column of this group in dz. */
  offset: number;
}

export interface WeightGradSpec {
  name: string;
  rows: number;
  /** Input width (x [rows, d], the first d rows of every kernel). */
  d: number;
  /** Columns of dz (all groups). */
  nc: number;
  groups: readonly WeightGradGroup[];
  x: GPUBuffer;
  /** WGSL f32 expression of dz at flat index i (a WGSL u32 expression), and what it reads. */
  dz: (i: string) => string;
  dzBindings: readonly Binding[];
  helpers: string;
  splits: number;
}

interface Target {
  variable: tf.Variable;
  count: number;
  /** Gradient and variable index of element e (WGSL, u32 e in scope). */
  grad: string;
  index: string;
}

export function recordWeightGrads(c: StepCompiler, s: WeightGradSpec): void {
  const { rows, d, nc, groups } = s;
  const ones = Math.ceil((d + 1) / 64) === Math.ceil(d / 64);
  const M = ones ? d + 1 : d;
  const { partial, splits } = recordMatmulPartials(c.program, `${s.name}.dW`, {
    M,
    N: nc,
    K: rows,
    a: 'xa(m, k)',
    aFast: 'm',
    b: s.dz('k * u.nc + n'),
    helpers: s.helpers,
    loadHelpers: `fn xa(m: u32, k: u32) -> f32 { if (m == u.d) { return 1.0; } return X[k * u.d + m]; }`,
    params: [['d', 'u32', d], ['nc', 'u32', nc]],
    loadBindings: [{ name: 'X', buffer: s.x }, ...s.dzBindings],
    splitK: s.splits,
  });
  const targets: Target[] = [];
  groups.forEach((g) => {
    const ld = g.kernel.shape[1]!;
    targets.push({ variable: g.kernel, count: d * g.w, grad: `sumP(e / ${g.w}u, ${g.offset}u + e % ${g.w}u)`, index: `(e / ${g.w}u) * ${ld}u + e % ${g.w}u` });
    if (ones) targets.push({ variable: g.bias, count: g.w, grad: `sumP(${d}u, ${g.offset}u + e)`, index: 'e' });
  });
  const P: Binding = { name: 'P', buffer: partial };
  const kernels = packUpdateSites(c, targets.map((t) => t.variable), [P]);
  kernels.forEach((group, gi) => {
    const ts = group.map(([i]) => targets[i]!);
    const starts = ts.map((_, j) => ts.slice(0, j).reduce((a, t) => a + t.count, 0));
    const total = starts[ts.length - 1]! + ts[ts.length - 1]!.count;
    const body = group
      .map(([, site], j) => {
        const t = ts[j]!;
        const step = `{ let e = i - ${starts[j]}u; ${site.fn}(${t.index}, ${t.grad}); }`;
        return j === ts.length - 1 ? step : `if (i < ${starts[j + 1]}u) ${step}`;
      })
      .join(' else ');
    const params: Param[] = [['total', 'u32', total], ['M', 'u32', M], ['nc', 'u32', nc], ['splits', 'u32', splits]];
    c.program.dispatch(`${s.name}.dW.reduce${kernels.length > 1 ? gi : ''}`, {
      params,
      bindings: uniqueBindings([P, ...group.flatMap(([, site]) => site.bindings)]),
      code: `${group.map(([, site]) => site.helpers).join('\n')}
fn sumP(m: u32, n: u32) -> f32 {
  var a = 0.0;
  for (var z = 0u; z < u.splits; z++) { a += P[(z * u.M + m) * u.nc + n]; }
  return a;
}
@compute @workgroup_size(256, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.y * ${65535 * 256}u + gid.x;
  if (i >= u.total) { return; }
  ${body}
}`,
      workgroups: [Math.min(Math.ceil(total / 256), 65535), Math.ceil(Math.ceil(total / 256) / 65535)],
    });
  });
  if (!ones) {
    recordColumnSums(c, `${s.name}.db`, {
      rows,
      targets: groups.map((g) => ({ variable: g.bias, cols: g.w, value: s.dz(`r * u.nc + ${g.offset}u + n`) })),
      bindings: s.dzBindings,
      params: [['nc', 'u32', nc]],
      helpers: s.helpers,
    });
  }
}
