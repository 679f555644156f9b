/**
 * The trainer's loss in the compiled step: mean softmax cross-entropy of int labels over the batch
 * (core/train/evaluate.ts crossEntropy) and the count of rows whose first arg-max is the label
 * (correctCount). One dispatch per row block writes each row's loss, correctness and d loss / d logits =
 * (softmax − onehot) / B; a second, one workgroup, sums the rows into stats[0] (mean loss) and stats[1].
 */
import type { StepCompiler } from './compiler.js';

export function compileCrossEntropy(c: StepCompiler, logits: GPUBuffer, labels: GPUBuffer, rows: number, classes: number): GPUBuffer {
  const p = c.program;
  const dlogits = c.buffer(rows * classes, 'loss.dlogits');
  const rowStats = c.buffer(rows * 2, 'loss.rows');
  p.dispatch('loss.rows', {
    params: [['rows', 'u32', rows], ['C', 'u32', classes], ['invRows', 'f32', 1 / rows]],
    bindings: [
      { name: 'L', buffer: logits },
      { name: 'Y', buffer: labels, type: 'array<i32>' },
      { name: 'DL', buffer: dlogits, access: 'read_write' },
      { name: 'RS', buffer: rowStats, access: 'read_write' },
    ],
    code: `
@compute @workgroup_size(64, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let r = gid.x;
  if (r >= u.rows) { return; }
  let base = r * u.C;
  var mx = L[base];
  var arg = 0u;
  for (var j = 1u; j < u.C; j++) { let v = L[base + j]; if (v > mx) { mx = v; arg = j; } }
  var s = 0.0;
  for (var j = 0u; j < u.C; j++) { s += exp(L[base + j] - mx); }
  let lse = mx + log(s);
  let y = u32(Y[r]);
  for (var j = 0u; j < u.C; j++) {
    let pj = exp(L[base + j] - lse);
    DL[base + j] = (pj - select(0.0, 1.0, j == y)) * u.invRows;
  }
  RS[2u * r] = lse - L[base + y];
  RS[2u * r + 1u] = select(0.0, 1.0, arg == y);
}`,
    workgroups: [Math.ceil(rows / 64)],
  });
  p.dispatch('loss.sum', {
    params: [['rows', 'u32', rows], ['invRows', 'f32', 1 / rows]],
    bindings: [
      { name: 'RS', buffer: rowStats },
      { name: 'S', buffer: c.stats, access: 'read_write' },
    ],
    code: `
var<workgroup> a: array<f32, 256>;
var<workgroup> b: array<f32, 256>;
@compute @workgroup_size(256, 1, 1)
fn main(@builtin(local_invocation_id) lid: vec3<u32>) {
  var l = 0.0;
  var k = 0.0;
  for (var r = lid.x; r < u.rows; r += 256u) { l += RS[2u * r]; k += RS[2u * r + 1u]; }
  a[lid.x] = l;
  b[lid.x] = k;
  workgroupBarrier();
  for (var h = 128u; h > 0u; h >>= 1u) {
    if (lid.x < h) { a[lid.x] += a[lid.x + h]; b[lid.x] += b[lid.x + h]; }
    workgroupBarrier();
  }
  if (lid.x == 0u) { S[0] = a[0] * u.invRows; S[1] = b[0]; }
}`,
    workgroups: [1],
  });
  return dlogits;
}
