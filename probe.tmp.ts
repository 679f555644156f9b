import * as tf from '@tensorflow/tfjs';
import { buildSupernet } from './core/nn/Supernet.js';
import { listExampleSpaces } from './core/space/exampleSpaces.js';
import { validateSpace } from './core/space/validateSpace.js';
import { largestArch, smallestArch, sampleArch, describeArch } from './core/space/archCodec.js';
import { createRng } from './core/space/rng.js';
if (process.argv[2] !== 'keep') await tf.setBackend(process.argv[2] ?? 'cpu');
for (const ex of listExampleSpaces()) {
  const r = validateSpace(ex.space); if (!r.ok) throw new Error();
  const net = buildSupernet(r.space, { seed: 1 });
  const shape = r.space.input.kind === 'vector' ? [64, r.space.input.dim] : [64, r.space.input.height, r.space.input.width, r.space.input.channels];
  const x = tf.randomNormal(shape);
  const y = tf.oneHot(tf.randomUniform([64], 0, r.space.numClasses, 'int32'), r.space.numClasses);
  const opt = tf.train.adam(0.003);
  const rng = createRng(1);
  for (const arch of [largestArch(r.space), smallestArch(r.space)]) {
    console.log(ex.id, describeArch(r.space, arch), 'params', net.countParams(arch), 'flops', net.countFlops(arch));
  }
  const t0 = performance.now();
  const N = 10;
  for (let i = 0; i < N; i++) {
    const arch = sampleArch(r.space, rng);
    opt.minimize(() => { const out = net.apply(x, arch, { training: true, progress: i / N }); return tf.add(tf.losses.softmaxCrossEntropy(y, out.logits), out.auxLoss) as tf.Scalar; }, false, net.trainableVariables());
  }
  console.log(ex.id, 'ms/step (batch 64)', ((performance.now() - t0) / N).toFixed(1), 'tensors', tf.memory().numTensors);
}
