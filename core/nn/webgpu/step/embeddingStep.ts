/**
 * The transformer's input embeddings (core/nn/transformer/embeddings.ts) in the compiled step, at width d
 * (the first d columns of every table) over T tokens (the first T position rows).
 *
 * Token ids arrive as the batch's floats holding small integers (the trainer's Float32Array batch, as the
 * tfjs path casts them): forward y[b, t] = table[id] + positions[t], an id outside the vocabulary
 * contributing a zero row as tfjs' one-hot does. The table's gradient is that one-hot's transpose times dy,
 * a matmul over the batch's rows with the one-hot in its A-load (no float atomics in WGSL, and no sort
 * needed at these vocabularies); split-K spreads the B·T rows over the GPU.
 *
 * The patch embedding is a linear map (./linearStep.ts) whose store adds the position rows.
 * Both: positions' gradient is Σ_b dy[b, t, :] (./columnSumStep.ts).
 */
import type * as tf from '@tensorflow/tfjs';
import { recordColumnSum } from './columnSumStep.js';
import type { CompiledLayer, StepCompiler } from './compiler.js';
import { compileLinear } from './linearStep.js';
import { recordMatmul, splitKFor } from './matmul.js';

/** Record the positions' update from dy [B·T, d]. */
function positionsBackward(c: StepCompiler, name: string, positions: tf.Variable, dy: GPUBuffer, B: number, T: number, d: number): void {
  recordColumnSum(c, `${name}.dpositions`, {
    rows: B,
    cols: T * d,
    value: 'DY[r * u.td + n]',
    index: '(n / u.d) * u.ldp + n % u.d',
    bindings: [{ name: 'DY', buffer: dy }],
    params: [['d', 'u32', d], ['td', 'u32', T * d], ['ldp', 'u32', positions.shape[1]!]],
    variable: positions,
  });
}

export interface TokenEmbeddingSpec {
  name: string;
  table: tf.Variable;
  positions: tf.Variable;
  B: number;
  T: number;
  d: number;
}

/** ids [B, T] (floats) → [B·T, d]. The input needs no gradient. */
export function compileTokenEmbedding(c: StepCompiler, s: TokenEmbeddingSpec, ids: GPUBuffer): { y: GPUBuffer; layer: CompiledLayer } {
  const { B, T, d } = s;
  const rows = B * T;
  const vocab = s.table.shape[0]!;
  const y = c.buffer(rows * d, `${s.name}.y`);
  const params = [['rows', 'u32', rows], ['T', 'u32', T], ['d', 'u32', d], ['V', 'u32', vocab], ['ld', 'u32', s.table.shape[1]!], ['ldp', 'u32', s.positions.shape[1]!]] as const;
  c.program.dispatch(`${s.name}.forward`, {
    params,
    bindings: [
      { name: 'X', buffer: ids },
      { name: 'TAB', buffer: c.read(s.table) },
      { name: 'POS', buffer: c.read(s.positions) },
      { name: 'Y', buffer: y, access: 'read_write' },
    ],
    code: `
@compute @workgroup_size(64, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.y * ${65535 * 64}u + gid.x;
  if (i >= u.rows * u.d) { return; }
  let r = i / u.d;
  let n = i % u.d;
  let id = i32(X[r]);
  var tok = 0.0;
  if (id >= 0 && id < i32(u.V)) { tok = TAB[u32(id) * u.ld + n]; }
  Y[i] = tok + POS[(r % u.T) * u.ldp + n];
}`,
    // B·T·d threads exceed 65535 workgroups of one dimension at large batches.
    workgroups: [Math.min(Math.ceil((rows * d) / 64), 65535), Math.ceil(Math.ceil((rows * d) / 64) / 65535)],
  });
  return {
    y,
    layer: {
      backward(dy) {
        const up = c.update(s.table, 't');
        recordMatmul(c.program, `${s.name}.dtable`, {
          M: vocab,
          N: d,
          K: rows,
          a: 'select(0.0, 1.0, i32(X[k]) == i32(m))',
          b: 'DY[k * u.d + n]',
          store: `${up.fn}(m * u.ld + n, acc);`,
          storeHelpers: up.helpers,
          params: [['d', 'u32', d], ['ld', 'u32', s.table.shape[1]!]],
          loadBindings: [{ name: 'X', buffer: ids }, { name: 'DY', buffer: dy }],
          storeBindings: up.bindings,
          splitK: splitKFor(vocab, d, rows),
        });
        positionsBackward(c, s.name, s.positions, dy, B, T, d);
        return null;
      },
    },
  };
}

export interface PatchEmbeddingSpec {
  name: string;
  kernel: tf.Variable;
  bias: tf.Variable;
  positions: tf.Variable;
  B: number;
  T: number;
  /** Features per patch. */
  P: number;
  d: number;
}

/** patches [B·T, P] → [B·T, d]: x·W + b + positions[t]. */
export function compilePatchEmbedding(c: StepCompiler, s: PatchEmbeddingSpec, x: GPUBuffer): { y: GPUBuffer; layer: CompiledLayer } {
  const { B, T, d } = s;
  const lin = compileLinear(
    c,
    {
      name: s.name,
      rows: B * T,
      d: s.P,
      act: 'linear',
      groups: [{ kernel: s.kernel, bias: s.bias, w: d }],
      add: { buffer: c.read(s.positions), index: '(m % u.T) * u.ldp + n', params: [['T', 'u32', T], ['ldp', 'u32', s.positions.shape[1]!]] },
    },
    x,
  );
  return {
    y: lin.y,
    layer: {
      backward(dy, needDx) {
        const dx = lin.layer.backward(dy, needDx);
        positionsBackward(c, s.name, s.positions, dy, B, T, d);
        return dx;
      },
    },
  };
}
