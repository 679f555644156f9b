/**
 * The trainer's loss in the compiled step: mean softmax cross-entropy of int labels over the batch
 * (core/train/evaluate.ts crossEntropy) and the count of rows whose first arg-max is the label
 * (correctCount). One dispatch per row block writes each row's loss, correctness and d loss / d logits =
 * (softmax − onehot) / B; a second, one workgroup, sums the rows into stats[0] (mean loss) and stats[1].
 *
 * The token loss (core/train/languageModel.ts tokenCrossEntropy) is the same over the scored rows, those
 * whose label is not IGNORE_TARGET (a sequence task's prompt), divided by max(count, 1); correct counts
 * scored rows only. The count depends on the batch, so a first dispatch (one workgroup) counts the scored
 * labels; the row dispatch scales by 1 / count and gives an ignored row no loss and a zero gradient.
 */
import type { StepCompiler } from './compiler.js';

/** core/data/DatasetContract.ts IGNORE_TARGET (a position without a loss); the step's floor cannot import data/. */
const IGNORE_TARGET = -1;

/** Reduce a[i] (and b[i]) over the 256 threads of a workgroup into a[0] (b[0]). */
const TREE = (both: boolean) => `  workgroupBarrier();
  for (var h = 128u; h > 0u; h >>= 1u) {
    if (lid.x < h) { a[lid.x] += a[lid.x + h];${both ? ' b[lid.x] += b[lid.x + h];' : ''} }
    workgroupBarrier();
  }`;

function record(c: StepCompiler, logits: GPUBuffer, labels: GPUBuffer, rows: number, classes: number, tokens: boolean): GPUBuffer {
  const p = c.program;
  const dlogits = c.buffer(rows * classes, 'loss.dlogits');
  const rowStats = c.buffer(rows * 2, 'loss.rows');
  const count = tokens ? c.buffer(2, 'loss.count') : null;
  if (count) {
    p.dispatch('loss.count', {
      params: [['rows', 'u32', rows]],
      bindings: [
        { name: 'Y', buffer: labels, type: 'array<i32>' },
        { name: 'CNT', buffer: count, access: 'read_write' },
      ],
      code: `
var<workgroup> a: array<f32, 256>;
@compute @workgroup_size(256, 1, 1)
fn main(@builtin(local_invocation_id) lid: vec3<u32>) {
  var n = 0.0;
  for (var r = lid.x; r < u.rows; r += 256u) { n += select(1.0, 0.0, Y[r] == ${IGNORE_TARGET}); }
  a[lid.x] = n;
${TREE(false)}
  if (lid.x == 0u) { CNT[0] = a[0]; CNT[1] = 1.0 / max(a[0], 1.0); }
}`,
      workgroups: [1],
    });
  }
  const ignored = count
    ? `
  if (Y[r] == ${IGNORE_TARGET}) {
    for (var j = 0u; j < u.C; j++) { DL[base + j] = 0.0; }
    RS[2u * r] = 0.0;
    RS[2u * r + 1u] = 0.0;
    return;
  }`
    : '';
  const scale = count ? 'CNT[1]' : 'u.invRows';
  p.dispatch('loss.rows', {
    params: [['rows', 'u32', rows], ['C', 'u32', classes], ['invRows', 'f32', 1 / rows]],
    bindings: [
      { name: 'L', buffer: logits },
      { name: 'Y', buffer: labels, type: 'array<i32>' },
      ...(count ? [{ name: 'CNT', buffer: count }] : []),
      { name: 'DL', buffer: dlogits, access: 'read_write' },
      { name: 'RS', buffer: rowStats, access: 'read_write' },
    ],
    code: `
@compute @workgroup_size(64, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let r = gid.x;
  if (r >= u.rows) { return; }
  let base = r * u.C;${ignored}
  var mx = L[base];
  var arg = 0u;
  for (var j = 1u; j < u.C; j++) { let v = L[base + j]; if (v > mx) { mx = v; arg = j; } }
  var s = 0.0;
  for (var j = 0u; j < u.C; j++) { s += exp(L[base + j] - mx); }
  let lse = mx + log(s);
  let y = u32(Y[r]);
  for (var j = 0u; j < u.C; j++) {
    let pj = exp(L[base + j] - lse);
    DL[base + j] = (pj - select(0.0, 1.0, j == y)) * ${scale};
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
      ...(count ? [{ name: 'CNT', buffer: count }] : []),
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
${TREE(true)}
  if (lid.x == 0u) { S[0] = ${count ? 'a[0] / max(CNT[0], 1.0)' : 'a[0] * u.invRows'}; S[1] = b[0]; }
}`,
    workgroups: [1],
  });
  return dlogits;
}

export function compileCrossEntropy(c: StepCompiler, logits: GPUBuffer, labels: GPUBuffer, rows: number, classes: number): GPUBuffer {
  return record(c, logits, labels, rows, classes, false);
}

/** The token loss: labels IGNORE_TARGET carry no loss; the mean is over the scored rows. */
export function compileTokenCrossEntropy(c: StepCompiler, logits: GPUBuffer, labels: GPUBuffer, rows: number, classes: number): GPUBuffer {
  return record(c, logits, labels, rows, classes, true);
}
