/**
 * The gradient of a vector the batch broadcasts over (a bias, a layer norm's γ and β, position
 * embeddings): g[n] = Σ_rows value(r, n), with the optimizer update applied as it is summed (./update.ts).
 * One workgroup per column whose 256 threads stride the rows, then a tree in workgroup memory: a layout as
 * denseStep.ts's bias gradient, shared here by every such vector of the transformer step.
 */
import type * as tf from '@tensorflow/tfjs';
import type { StepCompiler } from './compiler.js';
import type { Binding, Param } from './program.js';

export interface ColumnSum {
  rows: number;
  cols: number;
  /** WGSL f32 expression of row r and column n (u32 r, n in scope). */
  value: string;
  /** WGSL u32 expression: the element of `variable` that column n updates (default n). */
  index?: string;
  /** Buffers `value` reads. */
  bindings: readonly Binding[];
  params?: readonly Param[];
  helpers?: string;
  variable: tf.Variable;
}

export function recordColumnSum(c: StepCompiler, label: string, s: ColumnSum): void {
  const up = c.update(s.variable, 'g');
  c.program.dispatch(label, {
    params: [['rows', 'u32', s.rows], ['cols', 'u32', s.cols], ...(s.params ?? [])],
    bindings: [...s.bindings, ...up.bindings],
    code: `${s.helpers ?? ''}
${up.helpers}
var<workgroup> part: array<f32, 256>;
@compute @workgroup_size(256, 1, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let n = wg.y * 65535u + wg.x;
  if (n >= u.cols) { return; }
  var s = 0.0;
  for (var r = lid.x; r < u.rows; r += 256u) { s += ${s.value}; }
  part[lid.x] = s;
  workgroupBarrier();
  for (var h = 128u; h > 0u; h >>= 1u) {
    if (lid.x < h) { part[lid.x] += part[lid.x + h]; }
    workgroupBarrier();
  }
  if (lid.x == 0u) { ${up.fn}(${s.index ?? 'n'}, part[0]); }
}`,
    workgroups: [Math.min(s.cols, 65535), Math.ceil(s.cols / 65535)],
  });
}
