import * as tf from '@tensorflow/tfjs';
import { selectBackend } from './core/nn/backend.js';
import { conv2dIm2col } from './core/nn/conv.js';
const be = process.argv[2] ?? 'cpu';
if (be === 'wasm') await selectBackend('wasm'); else await tf.setBackend('cpu');
const x = tf.randomNormal([64, 28, 28, 1]);
const k1 = tf.variable(tf.randomNormal([5, 5, 1, 16]));
const k2 = tf.variable(tf.randomNormal([5, 5, 16, 32]));
const opt = tf.train.sgd(0.01);
for (const [name, f] of [
  ['conv1 fwd', () => conv2dIm2col(x as tf.Tensor4D, k1, 2).sum()],
  ['conv1 fwd+bwd', () => opt.minimize(() => conv2dIm2col(x as tf.Tensor4D, k1, 2).sum() as tf.Scalar)],
  ['conv2 fwd+bwd', () => opt.minimize(() => conv2dIm2col(conv2dIm2col(x as tf.Tensor4D, k1, 2), k2, 2).sum() as tf.Scalar)],
] as const) {
  (f as any)();
  const t0 = performance.now();
  for (let i = 0; i < 3; i++) tf.tidy(() => { (f as any)(); });
  console.log(be, name, ((performance.now() - t0) / 3).toFixed(1), 'ms');
}
if (be === 'cpu') for (const [s, k, h] of [[1, 3, 7], [2, 5, 28], [2, 3, 7], [1, 1, 5], [2,5,9]] as const) {
  const xx = tf.randomNormal([2, h, h, 3]) as tf.Tensor4D; const kk = tf.randomNormal([k, k, 3, 4]) as tf.Tensor4D;
  console.log('diff', s, k, h, tf.max(tf.abs(tf.sub(conv2dIm2col(xx, kk, s), tf.conv2d(xx, kk, s, 'same')))).dataSync()[0]);
}
if (be === 'cpu') {
  const xx = tf.randomNormal([2, 9, 9, 3]) as tf.Tensor4D; const kk = tf.randomNormal([5, 5, 3, 4]) as tf.Tensor4D;
  for (const s of [1, 2] as const) {
    const f1 = (a: tf.Tensor4D, b: tf.Tensor4D) => tf.sum(tf.square(conv2dIm2col(a, b, s)));
    const f2 = (a: tf.Tensor4D, b: tf.Tensor4D) => tf.sum(tf.square(tf.conv2d(a, b, s, 'same')));
    const g1 = tf.grads(f1 as any)([xx, kk]); const g2 = tf.grads(f2 as any)([xx, kk]);
    console.log('graddiff', s, tf.max(tf.abs(tf.sub(g1[0]!, g2[0]!))).dataSync()[0], tf.max(tf.abs(tf.sub(g1[1]!, g2[1]!))).dataSync()[0], tf.max(tf.abs(g2[1]!)).dataSync()[0]);
  }
}
