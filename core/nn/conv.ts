/**
 * 'same'-padded 2-D convolution that trains on every tfjs backend.
 *
 * tfjs' CPU backend computes Conv2D's gradients with naive per-element loops (several seconds per
 * step for the small Fashion-MNIST supernet on 2 cores) and the wasm backend has no
 * Conv2DBackpropFilter kernel at all. On those backends `conv2dSame` lowers the convolution to
 * im2col + matMul: the patch matrix is built (and, for the input gradient, folded back) with plain
 * typed-array loops, and the heavy products are tf.matMul, which both backends run well. Backends with
 * fast native convolutions (webgpu, tensorflow, webgl) use tf.conv2d.
 */
import * as tf from '@tensorflow/tfjs';

const NATIVE_CONV_BACKENDS = new Set(['webgpu', 'tensorflow', 'webgl']);

/** TensorFlow's 'same' padding: output ceil(in / stride), the odd pixel of padding at the bottom/right. */
export function samePadding(size: number, kernel: number, stride: number): { out: number; before: number } {
  const out = Math.ceil(size / stride);
  const total = Math.max((out - 1) * stride + kernel - size, 0);
  return { out, before: Math.floor(total / 2) };
}

/** A 'same' convolution's geometry (also the im2col kernel's, core/nn/webgpu/convFilterGrad.ts). */
export interface Geometry {
  n: number;
  h: number;
  w: number;
  cin: number;
  k: number;
  stride: number;
  ho: number;
  wo: number;
  top: number;
  left: number;
}

/** Patch matrix [n·ho·wo, k·k·cin], columns ordered (dy, dx, c) like a reshaped HWIO kernel. */
function im2col(x: ArrayLike<number>, g: Geometry): Float32Array {
  const { n, h, w, cin, k, stride, ho, wo, top, left } = g;
  const kkc = k * k * cin;
  const cols = new Float32Array(n * ho * wo * kkc);
  let row = 0;
  for (let b = 0; b < n; b++) {
    for (let oy = 0; oy < ho; oy++) {
      for (let ox = 0; ox < wo; ox++, row++) {
        const base = row * kkc;
        for (let dy = 0; dy < k; dy++) {
          const iy = oy * stride + dy - top;
          if (iy < 0 || iy >= h) continue;
          for (let dx = 0; dx < k; dx++) {
            const ix = ox * stride + dx - left;
            if (ix < 0 || ix >= w) continue;
            const src = ((b * h + iy) * w + ix) * cin;
            const dst = base + (dy * k + dx) * cin;
            for (let c = 0; c < cin; c++) cols[dst + c] = x[src + c]!;
          }
        }
      }
    }
  }
  return cols;
}

/** The adjoint of im2col: sums patch-matrix gradients back onto the input positions. */
function col2im(cols: ArrayLike<number>, g: Geometry): Float32Array {
  const { n, h, w, cin, k, stride, ho, wo, top, left } = g;
  const kkc = k * k * cin;
  const x = new Float32Array(n * h * w * cin);
  let row = 0;
  for (let b = 0; b < n; b++) {
    for (let oy = 0; oy < ho; oy++) {
      for (let ox = 0; ox < wo; ox++, row++) {
        const base = row * kkc;
        for (let dy = 0; dy < k; dy++) {
          const iy = oy * stride + dy - top;
          if (iy < 0 || iy >= h) continue;
          for (let dx = 0; dx < k; dx++) {
            const ix = ox * stride + dx - left;
            if (ix < 0 || ix >= w) continue;
            const dst = ((b * h + iy) * w + ix) * cin;
            const src = base + (dy * k + dx) * cin;
            for (let c = 0; c < cin; c++) x[dst + c]! += cols[src + c]!;
          }
        }
      }
    }
  }
  return x;
}

/** im2col convolution with a hand-written gradient (see the file comment). */
export function conv2dIm2col(x: tf.Tensor4D, kernel: tf.Tensor4D, stride: 1 | 2): tf.Tensor4D {
  const [n, h, w, cin] = x.shape;
  const [k, , , cout] = kernel.shape;
  const py = samePadding(h, k, stride);
  const px = samePadding(w, k, stride);
  const g: Geometry = { n, h, w, cin, k, stride, ho: py.out, wo: px.out, top: py.before, left: px.before };
  const rows = n * g.ho * g.wo;
  const kkc = k * k * cin;
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xIn, kIn, save] = args as [tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    const cols = tf.tensor2d(im2col(xIn.dataSync(), g), [rows, kkc]);
    const k2 = tf.reshape(kIn, [kkc, cout]) as tf.Tensor2D;
    save([cols, k2]);
    const value = tf.reshape(tf.matMul(cols, k2), [n, g.ho, g.wo, cout]);
    return {
      value,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [c, kk] = saved as [tf.Tensor2D, tf.Tensor2D];
        const dy2 = tf.reshape(dy, [rows, cout]) as tf.Tensor2D;
        const dKernel = tf.reshape(tf.matMul(c, dy2, true, false), [k, k, cin, cout]);
        const dCols = tf.matMul(dy2, kk, false, true);
        const dx = tf.tensor4d(col2im(dCols.dataSync(), g), [n, h, w, cin]);
        dCols.dispose();
        return [dx, dKernel];
      },
    };
  });
  return op(x, kernel) as tf.Tensor4D;
}

export function conv2dSame(x: tf.Tensor4D, kernel: tf.Tensor4D, stride: 1 | 2): tf.Tensor4D {
  if (NATIVE_CONV_BACKENDS.has(tf.getBackend())) return tf.conv2d(x, kernel, stride, 'same');
  return conv2dIm2col(x, kernel, stride);
}
