/**
 * The inputs of a transformer: token + learned absolute position embeddings (GPT-2) and ViT's patch
 * embedding (Dosovitskiy et al., 2021: a linear map of each flattened patch, plus a learned position
 * embedding). Elastic width as AutoFormer: a subnet of width d uses the first d columns of every table
 * and of the patch projection; a sequence of T ≤ maxLen tokens uses the first T position rows.
 *
 * Deviation from ViT: no [CLS] token; a classifier head pools the tokens by their mean (as in several
 * small ViTs and V-MoE's ablations), so every token is a patch and can be routed and shown.
 */
import * as tf from '@tensorflow/tfjs';
import { normalInit, type VariableStore } from '../init.js';
import type { Rng } from '../../space/rng.js';
import { INIT_STD } from './attention.js';

export class TokenEmbedding {
  readonly table: tf.Variable;
  readonly positions: tf.Variable;

  /** Variables "<name>.tokens" [vocab, D] and "<name>.positions" [maxLen, D]. */
  constructor(
    readonly name: string,
    readonly vocab: number,
    readonly maxLen: number,
    readonly maxWidth: number,
    store: VariableStore,
    rng: Rng,
  ) {
    this.table = store.add(`${name}.tokens`, normalInit(rng, [vocab, maxWidth], INIT_STD));
    this.positions = store.add(`${name}.positions`, normalInit(rng, [maxLen, maxWidth], INIT_STD));
  }

  /** ids [B, T] (int32 or float holding integers) → [B, T, d]. */
  apply(ids: tf.Tensor2D, d: number): tf.Tensor3D {
    const [B, T] = ids.shape;
    if (T > this.maxLen) throw new Error(`${this.name}: ${T} tokens exceed the ${this.maxLen} positions`);
    if (d > this.maxWidth) throw new Error(`${this.name}: width ${d} exceeds the allocated ${this.maxWidth}`);
    return tf.tidy(() => {
      const flat = tf.cast(tf.reshape(ids, [B * T]), 'int32') as tf.Tensor1D;
      // One-hot × table rather than gather: gather's gradient needs UnsortedSegmentSum, which the wasm backend lacks.
      const tokens = tf.reshape(tf.matMul(tf.oneHot(flat, this.vocab), this.table.slice([0, 0], [this.vocab, d])), [B, T, d]);
      return tf.add(tokens, this.positions.slice([0, 0], [T, d])) as tf.Tensor3D;
    });
  }

  static params(vocab: number, T: number, d: number): number {
    return vocab * d + T * d;
  }
}

export class PatchEmbedding {
  readonly kernel: tf.Variable;
  readonly bias: tf.Variable;
  readonly positions: tf.Variable;

  /** Variables "<name>.kernel" [patchDim, D], "<name>.bias" [D], "<name>.positions" [tokens, D]. */
  constructor(
    readonly name: string,
    readonly tokens: number,
    readonly patchDim: number,
    readonly maxWidth: number,
    store: VariableStore,
    rng: Rng,
  ) {
    this.kernel = store.add(`${name}.kernel`, normalInit(rng, [patchDim, maxWidth], INIT_STD));
    this.bias = store.add(`${name}.bias`, tf.zeros([maxWidth]));
    this.positions = store.add(`${name}.positions`, normalInit(rng, [tokens, maxWidth], INIT_STD));
  }

  /** patches [B, T ≤ tokens, patchDim] (core/data/patches.ts order) → [B, T, d]. */
  apply(patches: tf.Tensor3D, d: number): tf.Tensor3D {
    const [B, T, P] = patches.shape;
    if (P !== this.patchDim) throw new Error(`${this.name}: patches have ${P} features, the embedding expects ${this.patchDim}`);
    if (T > this.tokens) throw new Error(`${this.name}: ${T} patches exceed the ${this.tokens} positions`);
    if (d > this.maxWidth) throw new Error(`${this.name}: width ${d} exceeds the allocated ${this.maxWidth}`);
    return tf.tidy(() => {
      const rows = tf.add(tf.matMul(tf.reshape(patches, [B * T, P]), this.kernel.slice([0, 0], [P, d])), this.bias.slice(0, d));
      return tf.add(tf.reshape(rows, [B, T, d]), this.positions.slice([0, 0], [T, d])) as tf.Tensor3D;
    });
  }

  static params(tokens: number, patchDim: number, d: number): number {
    return patchDim * d + d + tokens * d;
  }
}
