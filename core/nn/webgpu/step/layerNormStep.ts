/**
 * Layer normalisation over the last axis (core/nn/transformer/layerNorm.ts: biased variance, ε inside the
 * rsqrt, the first d entries of γ and β) in the compiled step. Forward: one thread per row writes
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

/** A thread per row r of u.rows, its first element at `base`. */
const ROW = `
@compute @workgroup_size(64, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let r = gid.x;
  if (r >= u.rows) { return; }
  let base = r * u.d;`;

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
    code: `${ROW}
  var s = 0.0;
  for (var j = 0u; j < u.d; j++) { s += X[base + j]; }
  let mean = s * u.invD;
  var q = 0.0;
  for (var j = 0u; j < u.d; j++) { let e = X[base + j] - mean; q += e * e; }
  let rstd = inverseSqrt(q * u.invD + u.eps);
  for (var j = 0u; j < u.d; j++) { Y[base + j] = (X[base + j] - mean) * rstd * G[j] + Be[j]; }
  ST[2u * r] = mean;
  ST[2u * r + 1u] = rstd;
}`,
    workgroups: [Math.ceil(rows / 64)],
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
          code: `${ROW}
  let mean = ST[2u * r];
  let rstd = ST[2u * r + 1u];
  var sg = 0.0;
  var sgx = 0.0;
  for (var j = 0u; j < u.d; j++) {
    let g = DY[base + j] * G[j];
    sg += g;
    sgx += g * (X[base + j] - mean) * rstd;
  }
  let mg = sg * u.invD;
  let mgx = sgx * u.invD;
  for (var j = 0u; j < u.d; j++) {
    let xh = (X[base + j] - mean) * rstd;
    DX[base + j] = rstd * (DY[base + j] * G[j] - mg - xh * mgx)${res};
  }
}`,
          workgroups: [Math.ceil(rows / 64)],
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
