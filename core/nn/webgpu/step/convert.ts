/**
 * The supernet's layout conversions (core/nn/blocks/shapes.ts convertBatch) in the compiled step: an NHWC
 * image flattened to a vector is the same buffer; global average pooling is one dispatch forward and one
 * backward (dx = dy / (H·W) at every position). A sequence's token mean is the same kernel over its T
 * tokens ([B, T, d] is laid out as [B, H·W, C]).
 */
import type { SampleShape as ActivationShape } from '../../../space/blocks/descriptor.js';
import type { Act, CompiledForward, StepCompiler } from './compiler.js';

export function compileConversion(how: 'gap' | 'flatten' | 'tokenMean', x: Act, c: StepCompiler, where: string): CompiledForward | string {
  const [H, W] = x.shape.spatial;
  if (how === 'flatten') {
    const shape: ActivationShape = { layout: 'vector', width: H * W * x.shape.width, spatial: [1, 1], length: 1 };
    return { out: { buffer: x.buffer, shape }, layer: { backward: (dy) => dy } };
  }
  const C = x.shape.width;
  const B = c.batch;
  const y = c.buffer(B * C, `${where}.y`);
  const HW = how === 'tokenMean' ? x.shape.length : H * W;
  const params = [['B', 'u32', B], ['HW', 'u32', HW], ['C', 'u32', C], ['inv', 'f32', 1 / HW]] as const;
  c.program.dispatch(`${where}.gap`, {
    params,
    bindings: [{ name: 'X', buffer: x.buffer }, { name: 'Y', buffer: y, access: 'read_write' }],
    code: `
@compute @workgroup_size(64, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
  if (i >= u.B * u.C) { return; }
  let b = i / u.C;
  let ch = i % u.C;
  var s = 0.0;
  for (var p = 0u; p < u.HW; p++) { s += X[(b * u.HW + p) * u.C + ch]; }
  Y[i] = s * u.inv;
}`,
    workgroups: [Math.ceil((B * C) / 64)],
  });
  const shape: ActivationShape = { layout: 'vector', width: C, spatial: [1, 1], length: 1 };
  return {
    out: { buffer: y, shape },
    layer: {
      backward(dy, needDx) {
        if (!needDx) return null;
        const dx = c.buffer(B * HW * C, `${where}.dx`);
        c.program.dispatch(`${where}.gap.dx`, {
          params,
          bindings: [{ name: 'DY', buffer: dy }, { name: 'DX', buffer: dx, access: 'read_write' }],
          code: `
@compute @workgroup_size(64, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
  if (i >= u.B * u.HW * u.C) { return; }
  let ch = i % u.C;
  let b = i / (u.HW * u.C);
  DX[i] = DY[b * u.C + ch] * u.inv;
}`,
          workgroups: [Math.ceil((B * HW * C) / 64)],
        });
        return dx;
      },
    },
  };
}
