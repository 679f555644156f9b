/**
 * Seeded weight initialisers that draw from the project's Rng, so a supernet built with the same seed
 * has the same weights on every backend.
 */
import * as tf from '@tensorflow/tfjs';
import type { Rng } from '../space/rng.js';

/** Glorot / Xavier uniform (Glorot & Bengio, 2010) for a [fanIn, fanOut]-like weight. */
export function glorotUniform(rng: Rng, shape: number[], fanIn: number, fanOut: number): tf.Tensor {
  const limit = Math.sqrt(6 / (fanIn + fanOut));
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = (rng.next() * 2 - 1) * limit;
  return tf.tensor(data, shape);
}

export function normalInit(rng: Rng, shape: number[], std: number): tf.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = rng.normal() * std;
  return tf.tensor(data, shape);
}

let storeCounter = 0;

/**
 * The variables of one model, by stable name ("s1.b0.dense.kernel"). tfjs registers variables under
 * globally unique names, so each store prefixes its own instance number there; the stable names are
 * what checkpoints and exports see.
 */
export class VariableStore {
  private readonly vars = new Map<string, tf.Variable>();
  private readonly prefix = `m${++storeCounter}`;

  add(name: string, init: tf.Tensor, trainable = true): tf.Variable {
    if (this.vars.has(name)) throw new Error(`duplicate variable name ${name}`);
    const v = tf.variable(init, trainable, `${this.prefix}/${name}`);
    init.dispose();
    this.vars.set(name, v);
    return v;
  }

  named(): Map<string, tf.Variable> {
    return new Map(this.vars);
  }

  trainable(): tf.Variable[] {
    return [...this.vars.values()].filter((v) => v.trainable);
  }

  dispose(): void {
    for (const v of this.vars.values()) v.dispose();
    this.vars.clear();
  }
}
