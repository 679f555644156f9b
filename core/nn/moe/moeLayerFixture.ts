/** Test helper: standalone MoE layers from partial block JSON, their variables disposed together. */
import type * as tf from '@tensorflow/tfjs';
import { createRng } from '../../space/rng.js';
import { MoEBlock } from '../../space/SearchSpace.js';
import { VariableStore } from '../init.js';
import { MoELayer } from './MoELayer.js';

/** `defaults` are merged over `{ type: 'moe', experts: 4, expertHidden: [8] }`, each block over them. */
export function moeLayerFixture(defaults: Record<string, unknown> = {}) {
  const stores: VariableStore[] = [];
  const store = (): VariableStore => {
    const s = new VariableStore();
    stores.push(s);
    return s;
  };
  return {
    /** A fresh store, disposed with the others (for layers built from a parsed block). */
    store,
    /** The store of the layer built last. */
    lastStore: (): VariableStore | undefined => stores.at(-1),
    layer(block: Record<string, unknown>, d: number, seed = 1): MoELayer {
      const b = MoEBlock.parse({ type: 'moe', experts: 4, expertHidden: [8], ...defaults, ...block });
      return new MoELayer('m', b, d, store(), createRng(seed));
    },
    dispose(): void {
      stores.forEach((s) => s.dispose());
    },
  };
}

/** T rows of d standard-normal values (times `scale`), from a seeded RNG. */
export function randomRows(T: number, d: number, seed: number, scale = 1): number[][] {
  const rng = createRng(seed);
  return Array.from({ length: T }, () => Array.from({ length: d }, () => rng.normal() * scale));
}

/** Plain-JS softmax of one row (the tests' independent reference). */
export function softmax(z: readonly number[]): number[] {
  const m = Math.max(...z);
  const e = z.map((v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

/** An expert's FFN weights as plain arrays. */
export type HostFfn = { w1: number[][]; b1: number[]; w2: number[][]; b2: number[] };
export const hostFfn = (e: { w1: tf.Tensor; b1: tf.Tensor; w2: tf.Tensor; b2: tf.Tensor }): HostFfn => ({ w1: e.w1.arraySync() as number[][], b1: e.b1.arraySync() as number[], w2: e.w2.arraySync() as number[][], b2: e.b2.arraySync() as number[] });

/** Plain-JS ReLU FFN x → ReLU(x W1 + b1) W2 + b2 over the first `h` hidden units (default all) and the output width of x. */
export function reluFfn(w: HostFfn, x: readonly number[], h = w.b1.length): number[] {
  const hid = Array.from({ length: h }, (_, j) => Math.max(0, w.b1[j]! + x.reduce((s, v, i) => s + v * w.w1[i]![j]!, 0)));
  return x.map((_, o) => w.b2[o]! + hid.reduce((s, v, j) => s + v * w.w2[j]![o]!, 0));
}
