/**
 * The supernet on the wasm backend (what `selectBackend('auto')` picks on a GPU-less host) against the
 * cpu backend: same seed, same batch, same logits, losses and gradients for every example space.
 * Catches wasm kernel bugs on the routing and convolution paths.
 */
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { largestArch } from '../space/archCodec.js';
import { listExampleSpaces } from '../space/exampleSpaces.js';
import { createRng } from '../space/rng.js';
import { inputSampleShape, type SearchSpace } from '../space/SearchSpace.js';
import { validateSpace } from '../space/validateSpace.js';
import { selectBackend } from './backend.js';
import { buildSupernet } from './Supernet.js';

interface Probe {
  logits: number[];
  loss: number;
  grads: Map<string, number>;
  load: number[][];
}

function probe(space: SearchSpace): Probe {
  const net = buildSupernet(space, { seed: 4 });
  const n = 12;
  const shape = [n, ...inputSampleShape(space.input)];
  const rng = createRng(8);
  // Token spaces read ids below the vocabulary; other inputs are normal draws.
  const draw = space.input.kind === 'tokens' ? ((vocab: number) => () => rng.int(vocab))(space.input.vocab) : () => rng.normal();
  const x = tf.tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, draw), shape);
  const out = net.apply(x, largestArch(space), { training: false });
  // Token and sequence spaces predict every position: [n·T, classes] logits, one label per row.
  const rows = out.logits.shape[0]!;
  const y = tf.oneHot(tf.tensor1d(Array.from({ length: rows }, (_, i) => i % space.numClasses), 'int32'), space.numClasses);
  const logits = [...out.logits.dataSync()];
  const load = out.moe.map((m) => [...m.load.dataSync()]);
  const names = new Map([...net.namedVariables()].map(([k, v]) => [v.name, k]));
  const { value, grads } = tf.variableGrads(() => {
    const o = net.apply(x, largestArch(space), { training: true, progress: 0.5 });
    return tf.add(tf.losses.softmaxCrossEntropy(y, o.logits), o.auxLoss) as tf.Scalar;
  }, net.trainableVariables());
  const norms = new Map(Object.entries(grads).map(([k, g]) => [names.get(k)!, tf.norm(g).dataSync()[0]!]));
  const result = { logits, loss: value.dataSync()[0]!, grads: norms, load };
  net.dispose();
  return result;
}

describe('supernet on wasm', () => {
  for (const ex of listExampleSpaces()) {
    it(`${ex.id}: matches the cpu backend`, async () => {
      const r = validateSpace(ex.space);
      if (!r.ok) throw new Error('bad example');
      await tf.setBackend('cpu');
      const cpu = probe(r.space);
      await selectBackend('wasm');
      expect(tf.getBackend()).toBe('wasm');
      const wasm = probe(r.space);
      wasm.logits.forEach((v, i) => expect(v).toBeCloseTo(cpu.logits[i]!, 3));
      expect(wasm.load).toEqual(cpu.load);
      expect(wasm.loss).toBeCloseTo(cpu.loss, 3);
      for (const [name, g] of cpu.grads) expect(wasm.grads.get(name), name).toBeCloseTo(g, 2);
    });
  }
});
