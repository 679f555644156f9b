/**
 * Layer normalisation over the last axis (core/nn/transformer/layerNorm.ts: biased variance, ε inside the
 * rsqrt, the first d entries of γ and β) in the compiled step. Forward: 64 lanes per row write
 * y = (x − μ)·rstd·γ + β and keeps (μ, rstd) for the backward. Backward, with ĝ = dy ⊙ γ and x̂ the
 * normalised row: dx = rstd · (ĝ − mean(ĝ) − x̂ · mean(ĝ ⊙ x̂)) (Ba et al., 2016; the closed form of what
 * tfjs' autodiff of moments/sub/mul/rsqrt computes), plus the residual stream's gradient when the caller
 * passes one (pre-LN: the block's input feeds both the norm and the skip), then dγ = Σ_rows dy ⊙ x̂ and
 * dβ = Σ_rows dy with their updates. One dispatch forward, two backward (three with Adam, whose two
 * updates do not fit one kernel).
 */
import type * as tf from '@tensorflow/tfjs';
import { recordColumnSums } from './columnSumStep.js';
import type { StepCompiler } from './compiler.js';

/**
 * 64 lanes per row, 4 rows per workgroup: lane l handles columns l, l + 64, …, so a row's loads are
 * consecutive words, and `sum2(a, b)` (a tree over the row's lanes in workgroup memory) gives both sums to
 * every lane. Rows past the end still run the barriers, with zeros.
 */
const ROWS = `
var<workgroup> ra: array<f32, 256>;
var<workgroup> rb: array<f32, 256>;
fn sum2(slot: u32, lane: u32, a: f32, b: f32) -> vec2<f32> {
  let i = slot * 64u + lane;
  ra[i] = a;
  rb[i] = b;
  workgroupBarrier();
  for (var h = 32u; h > 0u; h >>= 1u) {
    if (lane < h) { ra[i] += ra[i + h]; rb[i] += rb[i + h]; }
    workgroupBarrier();
  }
  let out = vec2<f32>(ra[slot * 64u], rb[slot * 64u]);
  workgroupBarrier();
  return out;
}
@compute @workgroup_size(64, 4, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let lane = lid.x;
  let r = (wg.y * 65535u + wg.x) * 4u + lid.y;
  let live = r < u.rows;
  let base = r * u.d;`;

/** Workgroups for `rows` rows, 4 a workgroup, on a 2-D grid past 65535. */
const rowGrid = (rows: number) => {
  const n = Math.ceil(rows / 4);
  return [Math.min(n, 65535), Math.ceil(n / 65535)];
};

export interface LayerNormSpec {
  name: string;
  gamma: tf.Variable;
  beta: tf.Variable;
  rows: number;
  d: number;
  eps: number;
}

export interface CompiledLayerNorm {
  y: GPUBuffer;
  /**
   * Record the backward for dy at y; `residual` (same shape) is added to dx. Returns dx, or null when
   * `needDx` is false (then only γ and β are updated).
   */
  backward(dy: GPUBuffer, needDx: boolean, residual?: GPUBuffer): GPUBuffer | null;
}

export function compileLayerNorm(c: StepCompiler, s: LayerNormSpec, x: GPUBuffer): CompiledLayerNorm {
  const { rows, d } = s;
  const p = c.program;
  const y = c.buffer(rows * d, `${s.name}.y`);
  const stats = c.buffer(rows * 2, `${s.name}.stats`);
  const G = c.read(s.gamma);
  const Be = c.read(s.beta);
  const params = [['rows', 'u32', rows], ['d', 'u32', d], ['invD', 'f32', 1 / d], ['eps', 'f32', s.eps]] as const;
  p.dispatch(`${s.name}.forward`, {
    params,
    bindings: [
      { name: 'X', buffer: x },
      { name: 'G', buffer: G },
      { name: 'Be', buffer: Be },
      { name: 'Y', buffer: y, access: 'read_write' },
      { name: 'ST', buffer: stats, access: 'read_write' },
    ],
    code: `${ROWS}
  var s = 0.0;
  if (live) { for (var j = lane; j < u.d; j += 64u) { s += X[base + j]; } }
  let mean = sum2(lid.y, lane, s, 0.0).x * u.invD;
  var q = 0.0;
  if (live) { for (var j = lane; j < u.d; j += 64u) { let e = X[base + j] - mean; q += e * e; } }
  let rstd = inverseSqrt(sum2(lid.y, lane, q, 0.0).x * u.invD + u.eps);
  if (!live) { return; }
  for (var j = lane; j < u.d; j += 64u) { Y[base + j] = (X[base + j] - mean) * rstd * G[j] + Be[j]; }
  if (lane == 0u) {
    ST[2u * r] = mean;
    ST[2u * r + 1u] = rstd;
  }
}`,
    workgroups: rowGrid(rows),
  });
  return {
    y,
    backward(dy, needDx, residual) {
      let dx: GPUBuffer | null = null;
      // dx reads γ: recorded before γ's update.
      if (needDx) {
        dx = c.buffer(rows * d, `${s.name}.dx`);
        const res = residual ? ' + RES[base + j]' : '';
        p.dispatch(`${s.name}.dx`, {
          params,
          bindings: [
            { name: 'DY', buffer: dy },
            { name: 'X', buffer: x },
            { name: 'ST', buffer: stats },
            { name: 'G', buffer: G },
            ...(residual ? [{ name: 'RES', buffer: residual }] : []),
            { name: 'DX', buffer: dx, access: 'read_write' },
          ],
          code: `${ROWS}
  var mean = 0.0;
  var rstd = 0.0;
  var sg = 0.0;
  var sgx = 0.0;
  if (live) {
    mean = ST[2u * r];
    rstd = ST[2u * r + 1u];
    for (var j = lane; j < u.d; j += 64u) {
      let g = DY[base + j] * G[j];
      sg += g;
      sgx += g * (X[base + j] - mean) * rstd;
    }
  }
  let sums = sum2(lid.y, lane, sg, sgx);
  if (!live) { return; }
  let mg = sums.x * u.invD;
  let mgx = sums.y * u.invD;
  for (var j = lane; j < u.d; j += 64u) {
    let xh = (X[base + j] - mean) * rstd;
    DX[base + j] = rstd * (DY[base + j] * G[j] - mg - xh * mgx)${res};
  }
}`,
          workgroups: rowGrid(rows),
        });
      }
      // dγ and dβ: one dispatch where both updates fit a kernel beside the three inputs (not Adam's).
      recordColumnSums(c, `${s.name}.dgamma`, {
        rows,
        targets: [
          { variable: s.gamma, cols: d, value: 'DY[r * u.d + n] * (X[r * u.d + n] - ST[2u * r]) * ST[2u * r + 1u]' },
          { variable: s.beta, cols: d, value: 'DY[r * u.d + n]' },
        ],
        bindings: [{ name: 'DY', buffer: dy }, { name: 'X', buffer: x }, { name: 'ST', buffer: stats }],
        params: [['d', 'u32', d]],
      });
      return dx;
    },
  };
}
