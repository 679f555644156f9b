import * as tf from '@tensorflow/tfjs';
import { selectBackend } from './core/nn/backend.js';
await selectBackend('wasm');
const x = tf.randomNormal([8, 28, 28, 1]);
const k1 = tf.variable(tf.randomNormal([5, 5, 1, 16]));
try { tf.variableGrads(() => tf.conv2d(x as tf.Tensor4D, k1, 2, 'same').sum() as tf.Scalar); console.log('conv grad ok'); } catch (e) { console.log('ERR', String(e).slice(0, 300)); }
try { tf.variableGrads(() => { const y = tf.conv2d(x as tf.Tensor4D, k1, 2, 'same'); const m = tf.moments(y,[0,1,2]); return tf.batchNorm(y, m.mean, m.variance).sum() as tf.Scalar }); console.log('bn grad ok'); } catch (e) { console.log('ERR', String(e).slice(0, 300)); }
