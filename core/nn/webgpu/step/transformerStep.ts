/**
 * The pre-LN transformer block with a dense FFN (core/nn/blocks/transformer.ts) in the compiled step:
 *   h = x + Attn(LN₁(x)),  y = h + W₂·act(W₁·LN₂(h) + b₁) + b₂
 * on the [B·T, d] rows of the stream, every weight the supernet's slice (./attentionStep.ts,
 * ./linearStep.ts, ./layerNormStep.ts). The residuals are added in the stores of the attention's output
 * projection and the FFN's down projection; their gradients are added where the stream's gradient is
 * formed, in the layer norms' dx kernels. 7 dispatches forward; backward 14–29 by the optimizer and the
 * rows (char-lm-fortunes' block at batch 256: 21 under SGD, 27 under Adam, whose updates need a kernel
 * each: ./updatePacking.ts). The block applies no dropout, so training and inference compute the same
 * function.
 *
 * An MoE FFN is the MoE block's compiled layer (./moeStep.ts, no residual of its own: the transformer's
 * is h, not LN₂(h)) on the B·T tokens, whose output one more dispatch adds to h.
 */
import type * as tf from '@tensorflow/tfjs';
import type { Activation } from '../../../space/SearchSpace.js';
import { compileAttention, type AttentionSpec } from './attentionStep.js';
import type { CompiledLayer, StepCompiler } from './compiler.js';
import { compileLayerNorm } from './layerNormStep.js';
import { compileLinear } from './linearStep.js';

export interface TransformerStepSpec {
  name: string;
  B: number;
  T: number;
  d: number;
  eps: number;
  ln1: { gamma: tf.Variable; beta: tf.Variable };
  ln2: { gamma: tf.Variable; beta: tf.Variable };
  attn: Omit<AttentionSpec, 'name' | 'B' | 'T' | 'd'>;
  ffn: DenseFfn | ((x: GPUBuffer) => { y: GPUBuffer; layer: CompiledLayer });
}

export interface DenseFfn {
  w1: tf.Variable;
  b1: tf.Variable;
  w2: tf.Variable;
  b2: tf.Variable;
  hidden: number;
  act: Activation;
}

/** The FFN's output plus the stream h: y = h + f (f's gradient is dy, h's is added in LN₂'s dx kernel). */
function addStream(c: StepCompiler, name: string, h: GPUBuffer, f: GPUBuffer, n: number): GPUBuffer {
  const y = c.buffer(n, `${name}.y`);
  c.program.dispatch(`${name}.residual`, {
    params: [['n', 'u32', n]],
    bindings: [{ name: 'H', buffer: h }, { name: 'F', buffer: f }, { name: 'Y', buffer: y, access: 'read_write' }],
    code: `
@compute @workgroup_size(256, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.y * ${65535 * 256}u + gid.x;
  if (i < u.n) { Y[i] = H[i] + F[i]; }
}`,
    workgroups: [Math.min(Math.ceil(n / 256), 65535), Math.ceil(Math.ceil(n / 256) / 65535)],
  });
  return y;
}

export function compileTransformer(c: StepCompiler, s: TransformerStepSpec, x: GPUBuffer): { y: GPUBuffer; layer: CompiledLayer } {
  const { B, T, d } = s;
  const rows = B * T;
  const ln1 = compileLayerNorm(c, { name: `${s.name}.ln1`, ...s.ln1, rows, d, eps: s.eps }, x);
  const attn = compileAttention(c, { name: `${s.name}.attn`, B, T, d, ...s.attn }, ln1.y, x);
  const h = attn.y;
  const ln2 = compileLayerNorm(c, { name: `${s.name}.ln2`, ...s.ln2, rows, d, eps: s.eps }, h);
  let y: GPUBuffer;
  // The FFN's layer: dy at its output → d LN₂(h).
  let ffnBackward: (dy: GPUBuffer) => GPUBuffer;
  const f = s.ffn;
  if (typeof f === 'function') {
    const moe = f(ln2.y);
    y = addStream(c, `${s.name}.ffn`, h, moe.y, rows * d);
    ffnBackward = (dy) => moe.layer.backward(dy, true)!;
  } else {
    const up = compileLinear(c, { name: `${s.name}.ffn.up`, rows, d, act: f.act, groups: [{ kernel: f.w1, bias: f.b1, w: f.hidden }] }, ln2.y);
    const down = compileLinear(c, { name: `${s.name}.ffn.down`, rows, d: f.hidden, act: 'linear', groups: [{ kernel: f.w2, bias: f.b2, w: d }], add: { buffer: h, index: 'm * u.nc + n' } }, up.y);
    y = down.y;
    ffnBackward = (dy) => up.layer.backward(down.layer.backward(dy, true)!, true)!;
  }
  return {
    y,
    layer: {
      backward(dy, needDx) {
        const dLn2 = ffnBackward(dy);
        // dh: through LN₂ and the FFN's skip.
        const dh = ln2.backward(dLn2, true, dy)!;
        const dLn1 = attn.layer.backward(dh, true)!;
        return ln1.backward(dLn1, needDx, dh);
      },
    },
  };
}
