/**
 * 'same' conv2d on WebGPU with a fast filter gradient.
 *
 * tfjs-webgpu's Conv2DBackpropFilter runs one thread per filter element, each looping over every output
 * pixel of the batch: at batch 2048 on the Fashion-MNIST conv supernet that is 177 of the step's 189 ms of
 * GPU time (bench/RESULTS.md). Here the filter gradient is an im2col matmul instead:
 *
 *   dK[(dy, dx, c), o] = Σ_rows cols[row, (dy, dx, c)] · dY[row, o],   cols = im2col(x)   (rows = n·ho·wo),
 *
 * one gather kernel (im2col, the patch layout of core/nn/conv.ts: columns (dy, dx, c) like a reshaped HWIO
 * kernel) and one tf.matMul with Aᵀ (tfjs' split-K kernel for these shapes). The forward and the input
 * gradient stay tfjs' (tf.conv2d, and conv2dTranspose, which is what tfjs' own Conv2D gradient calls).
 * The patch matrix costs k²·cin floats per output pixel of device memory for the backward pass.
 */
import * as tf from '@tensorflow/tfjs';
import { samePadding, type Geometry } from '../conv.js';
import type { MoeWebGpuProgram, WebGpuBackendLike } from './moeKernels.js';

/** Benchmarks switch it off to time tfjs' own filter gradient side by side. */
export const convFilterGradFast = { enabled: true };

export function convFastSupported(): boolean {
  return convFilterGradFast.enabled && tf.getBackend() === 'webgpu';
}

/** Geometry of a 'same' convolution of x [n, h, w, cin] with a k×k kernel at `stride`. */
export type Im2colGeometry = Geometry;

export function im2colGeometry(xShape: readonly number[], k: number, stride: number): Im2colGeometry {
  const [n, h, w, cin] = xShape as [number, number, number, number];
  const py = samePadding(h, k, stride);
  const px = samePadding(w, k, stride);
  return { n, h, w, cin, k, stride, ho: py.out, wo: px.out, top: py.before, left: px.before };
}

/**
 * Flat index into x (NHWC) of patch-matrix element (row, col), or -1 for padding. The kernel computes
 * exactly this (tested on CPU against conv.ts' im2col through the cpu backend's conv2d gradient).
 */
export function im2colSource(g: Im2colGeometry, row: number, col: number): number {
  const ox = row % g.wo;
  const oy = Math.floor(row / g.wo) % g.ho;
  const b = Math.floor(row / (g.wo * g.ho));
  const c = col % g.cin;
  const dx = Math.floor(col / g.cin) % g.k;
  const dy = Math.floor(col / (g.cin * g.k));
  const iy = oy * g.stride + dy - g.top;
  const ix = ox * g.stride + dx - g.left;
  if (iy < 0 || iy >= g.h || ix < 0 || ix >= g.w) return -1;
  return ((b * g.h + iy) * g.w + ix) * g.cin + c;
}

export class Im2colProgram implements MoeWebGpuProgram {
  outputShape: number[];
  shaderKey = 'swIm2col';
  dispatchLayout = { x: [0, 1] };
  dispatch: [number, number, number];
  variableNames = ['X'];
  variableComponents = [1];
  uniforms = 'H : i32, W : i32, CIN : i32, KS : i32, S : i32, HO : i32, WO : i32, TOP : i32, LEFT : i32,';
  workgroupSize: [number, number, number] = [256, 1, 1];
  size = true;
  constructor(g: Im2colGeometry) {
    this.outputShape = [g.n * g.ho * g.wo, g.k * g.k * g.cin];
    const groups = Math.ceil((this.outputShape[0]! * this.outputShape[1]!) / 256);
    const y = Math.ceil(groups / 65535);
    this.dispatch = [Math.ceil(groups / y), y, 1];
  }
  getUserCode(): string {
    return `
fn main(index : i32) {
  if (index >= uniforms.size) { return; }
  let cols = uniforms.KS * uniforms.KS * uniforms.CIN;
  let row = index / cols;
  let col = index - row * cols;
  let ox = row % uniforms.WO;
  let oy = (row / uniforms.WO) % uniforms.HO;
  let b = row / (uniforms.WO * uniforms.HO);
  let c = col % uniforms.CIN;
  let dx = (col / uniforms.CIN) % uniforms.KS;
  let dy = col / (uniforms.CIN * uniforms.KS);
  let iy = oy * uniforms.S + dy - uniforms.TOP;
  let ix = ox * uniforms.S + dx - uniforms.LEFT;
  var v = 0.0;
  if (iy >= 0 && iy < uniforms.H && ix >= 0 && ix < uniforms.W) {
    v = X[((b * uniforms.H + iy) * uniforms.W + ix) * uniforms.CIN + c];
  }
  result[index] = v;
}
`;
  }
}

const IM2COL = 'SwIm2col';
let registered = false;

function register(): void {
  if (registered) return;
  registered = true;
  tf.registerKernel({
    kernelName: IM2COL,
    backendName: 'webgpu',
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { x } = inputs as { x: tf.TensorInfo };
      const { k, stride } = attrs as unknown as { k: number; stride: number };
      const g = im2colGeometry(x.shape, k, stride);
      const u = [g.h, g.w, g.cin, g.k, g.stride, g.ho, g.wo, g.top, g.left].map((d) => ({ type: 'int32' as const, data: [d] }));
      return (backend as unknown as WebGpuBackendLike).runWebGPUProgram(new Im2colProgram(g), [x], 'float32', u);
    },
  });
}

/** tf.conv2d(x, kernel, stride, 'same') with the im2col filter gradient (see the file comment). */
export function conv2dSameWebgpu(x: tf.Tensor4D, kernel: tf.Tensor4D, stride: 1 | 2): tf.Tensor4D {
  register();
  const [k, , cin, cout] = kernel.shape;
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xIn, kIn, save] = args as [tf.Tensor4D, tf.Tensor4D, tf.GradSaveFunc];
    save([xIn, kIn]);
    return {
      value: tf.conv2d(xIn, kIn, stride, 'same'),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xs, ks] = saved as [tf.Tensor4D, tf.Tensor4D];
        const dx = tf.conv2dTranspose(dy as tf.Tensor4D, ks, xs.shape, stride, 'same');
        const cols = tf.engine().runKernel(IM2COL, { x: xs } as unknown as tf.NamedTensorMap, { k, stride } as unknown as tf.NamedAttrMap) as tf.Tensor2D;
        const dy2 = tf.reshape(dy, [cols.shape[0], cout]) as tf.Tensor2D;
        const dK = tf.reshape(tf.matMul(cols, dy2, true, false), [k, k, cin, cout]);
        return [dx, dK];
      },
    };
  });
  return op(x, kernel) as tf.Tensor4D;
}
