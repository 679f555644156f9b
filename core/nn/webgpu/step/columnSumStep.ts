/**
 * The gradient of a vector the batch broadcasts over (a bias, a layer norm's γ and β, position
 * embeddings): g[n] = Σ_rows value(r, n), with the optimizer update applied as it is summed (./update.ts).
 * One workgroup per column whose 256 threads stride the rows, then a tree in workgroup memory; every such
 * vector of the dense, linear, MoE and embedding steps goes through here (BatchNorm has its own chunked sums). Several vectors
 * over the same rows share a dispatch where their update sites fit one kernel (./updatePacking.ts).
 */
import type * as tf from '@tensorflow/tfjs';
import type { StepCompiler } from './compiler.js';
import type { Binding, Param } from './program.js';
import { packUpdateSites, uniqueBindings, usedBindings } from './updatePacking.js';

export interface ColumnTarget {
  variable: tf.Variable;
  cols: number;
  /** WGSL f32 expression of row r and column n (u32 r, n in scope). */
  value: string;
  /** WGSL u32 expression: the element of `variable` that column n updates (default n). */
  index?: string;
}

export interface ColumnSums {
  rows: number;
  targets: readonly ColumnTarget[];
  /** Buffers the values read. */
  bindings: readonly Binding[];
  params?: readonly Param[];
  helpers?: string;
}

export function recordColumnSums(c: StepCompiler, label: string, s: ColumnSums): void {
  const kernels = packUpdateSites(c, s.targets.map((t) => t.variable), s.bindings);
  kernels.forEach((group, gi) => {
    const ts = group.map(([i]) => s.targets[i]!);
    const starts = ts.map((_, j) => ts.slice(0, j).reduce((a, t) => a + t.cols, 0));
    const total = starts[ts.length - 1]! + ts[ts.length - 1]!.cols;
    // Target j holds columns starts[j] …; `t` follows the workgroup id, so every branch on it is uniform.
    let pick = `${ts.length - 1}u`;
    for (let j = ts.length - 2; j >= 0; j--) pick = `select(${pick}, ${j}u, n < u.s${j + 1})`;
    const fns = ts.map((t, j) => `fn val${j}(r: u32, n: u32) -> f32 { return ${t.value}; }\nfn idx${j}(n: u32) -> u32 { return ${t.index ?? 'n'}; }`).join('\n');
    const loops = ts.map((_, j) => `if (t == ${j}u) { for (var r = lid.x; r < u.rows; r += 256u) { s += val${j}(r, col); } }`).join(' else ');
    const update = group.map(([, site], j) => `if (t == ${j}u) { ${site.fn}(idx${j}(col), part[0]); }`).join(' ');
    const startOf = ts.map((_, j) => `select(0u, u.s${j}, t == ${j}u)`).join(' + ');
    const code = `${s.helpers ?? ''}
${group.map(([, site]) => site.helpers).join('\n')}
${fns}
var<workgroup> part: array<f32, 256>;
@compute @workgroup_size(256, 1, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let n = wg.y * 65535u + wg.x;
  if (n >= u.total) { return; }
  let t = ${pick};
  let col = n - (${startOf});
  var s = 0.0;
  ${loops}
  part[lid.x] = s;
  workgroupBarrier();
  for (var h = 128u; h > 0u; h >>= 1u) {
    if (lid.x < h) { part[lid.x] += part[lid.x + h]; }
    workgroupBarrier();
  }
  if (lid.x == 0u) { ${update} }
}`;
    c.program.dispatch(kernels.length > 1 ? `${label}${gi}` : label, {
      params: [['rows', 'u32', s.rows], ['total', 'u32', total], ...starts.map((o, j): Param => [`s${j}`, 'u32', o]), ...(s.params ?? [])],
      // A kernel holding some of the targets reads only their inputs.
      bindings: uniqueBindings([...usedBindings(s.bindings, code), ...group.flatMap(([, site]) => site.bindings)]),
      code,
      workgroups: [Math.min(total, 65535), Math.ceil(total / 65535)],
    });
  });
}

/** One vector's gradient and update. */
export function recordColumnSum(c: StepCompiler, label: string, s: Omit<ColumnSums, 'targets'> & ColumnTarget): void {
  recordColumnSums(c, label, { rows: s.rows, bindings: s.bindings, params: s.params, helpers: s.helpers, targets: [{ variable: s.variable, cols: s.cols, value: s.value, index: s.index }] });
}
