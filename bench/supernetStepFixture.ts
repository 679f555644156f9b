/**
 * The product's supernet training step on a small batch, for bench/supernet_step_torch.py --fixture: for each
 * example space without conv stages (conv kernels are stored NHWC and cropped per kernel choice, which the
 * reference's loader does not map), the largest subnet's forward on the tfjs CPU backend with the
 * trainer's loss — tokenCrossEntropy's mean for a per-token head, crossEntropy otherwise, plus the aux
 * loss — and the gradient of every trainable variable, with the supernet's variables (seed 1) and the batch.
 * The reference loads those variables by name, so its logits, losses and gradients are compared with the
 * product's own on the same weights and inputs.
 *
 *   node --import tsx bench/supernetStepFixture.ts [--batch 3] [--spaces a,b] > fixture.json
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { buildSupernet } from '../core/nn/Supernet.js';
import { largestArch } from '../core/space/archCodec.js';
import { inputSampleShape, SearchSpace } from '../core/space/SearchSpace.js';
import { crossEntropy } from '../core/train/evaluate.js';
import { tokenCrossEntropy } from '../core/train/languageModel.js';

await tf.setBackend('cpu');
const argv = process.argv.slice(2);
const opt = (name: string) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
};
const batch = Number(opt('batch') ?? 3);
const only = opt('spaces')?.split(',');

const plain = async (t: tf.Tensor) => ({ shape: t.shape, data: Array.from(await t.data()) });
const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'assets', 'spaces');
const out: Record<string, unknown> = {};
for (const file of fs.readdirSync(dir).filter((f) => f.endsWith('.json')).sort()) {
  const name = file.replace(/\.json$/, '');
  if (only && !only.includes(name)) continue;
  const space = SearchSpace.parse(JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')));
  if (space.stages.some((s) => s.block.type === 'conv')) continue;
  const net = buildSupernet(space, { seed: 1 });
  const arch = largestArch(space);
  const shape = [batch, ...inputSampleShape(space.input)];
  // Token ids as float32 integers (the trainer's batches), features N(0, 1); one target per row of the logits.
  const x = space.input.kind === 'tokens' ? tf.cast(tf.randomUniform(shape, 0, space.input.vocab, 'int32', 5), 'float32') : tf.randomNormal(shape, 0, 1, 'float32', 5);
  const rows = net.perToken ? batch * shape[1]! : batch;
  const labels = tf.randomUniform([rows], 0, space.numClasses, 'int32', 6) as tf.Tensor1D;
  const vars = net.trainableVariables();
  let logits: tf.Tensor | null = null;
  let ce: tf.Tensor | null = null;
  let aux: tf.Tensor | null = null;
  const { value, grads } = tf.variableGrads(() => {
    const r = net.apply(x, arch, { training: true, progress: 0.5 });
    logits = tf.keep(r.logits);
    ce = tf.keep(net.perToken ? tokenCrossEntropy(r.logits, labels).mean : crossEntropy(r.logits, labels));
    aux = tf.keep(r.auxLoss);
    return tf.add(ce, r.auxLoss) as tf.Scalar;
  }, vars);
  // Stable names ("moe.b0.transformer.attn.q.kernel"); tfjs registers each under its store's prefix.
  const weights: Record<string, unknown> = {};
  const gradients: Record<string, unknown> = {};
  for (const [n, v] of net.namedVariables()) {
    if (!v.trainable) continue;
    weights[n] = await plain(v);
    if (grads[v.name]) gradients[n] = await plain(grads[v.name]!);
  }
  out[name] = {
    x: await plain(x),
    labels: await plain(labels),
    logits: await plain(logits!),
    ce: (await ce!.data())[0],
    aux: (await aux!.data())[0],
    loss: (await value.data())[0],
    weights,
    grads: gradients,
  };
  tf.dispose([x, labels, logits!, ce!, aux!, value, ...Object.values(grads)]);
  net.dispose();
}
process.stdout.write(JSON.stringify(out) + '\n');
