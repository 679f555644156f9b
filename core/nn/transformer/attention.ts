/**
 * Multi-head self-attention (Vaswani et al., 2017) with elastic heads and embedding width, weights shared
 * the way HAT (Wang et al., 2020) and AutoFormer (Chen et al., 2021) share them: the supernet allocates
 * Q, K, V [D, H·dₕ] and O [H·dₕ, D] at the largest width D and head count H; a subnet of width d and h heads
 * uses the first d input rows and the first h heads' dₕ columns of Q/K/V (heads are contiguous column
 * blocks, head i = columns i·dₕ … (i+1)·dₕ), and the first h·dₕ rows and d columns of O. The head dimension dₕ
 * is fixed (HAT's choice; AutoFormer also keeps 64 per head), so scores are scaled by 1/√dₕ at every choice.
 *
 * Causal attention (GPT, Radford et al., 2018) adds −1e9 to the scores of keys after the query position
 * before the softmax; −1e9 rather than −∞ so a fully masked row (none here) cannot produce NaN, and so the
 * ONNX export can write the same additive mask as a constant.
 *
 * Initialisation as GPT-2 / nanoGPT: N(0, 0.02²) weights, zero biases.
 */
import * as tf from '@tensorflow/tfjs';
import { normalInit, type VariableStore } from '../init.js';
import type { Rng } from '../../space/rng.js';

export const INIT_STD = 0.02;
export const MASK_VALUE = -1e9;

export interface AttentionChoice {
  /** Active heads h ≤ H. */
  heads: number;
}

export class MultiHeadAttention {
  readonly wq: tf.Variable;
  readonly wk: tf.Variable;
  readonly wv: tf.Variable;
  readonly bq: tf.Variable;
  readonly bk: tf.Variable;
  readonly bv: tf.Variable;
  readonly wo: tf.Variable;
  readonly bo: tf.Variable;

  /** Variables "<name>.{q,k,v}.kernel" [D, H·dₕ], ".bias" [H·dₕ], "<name>.o.kernel" [H·dₕ, D], ".o.bias" [D]. */
  constructor(
    readonly name: string,
    readonly maxWidth: number,
    readonly maxHeads: number,
    readonly headDim: number,
    readonly causal: boolean,
    store: VariableStore,
    rng: Rng,
  ) {
    const inner = maxHeads * headDim;
    this.wq = store.add(`${name}.q.kernel`, normalInit(rng, [maxWidth, inner], INIT_STD));
    this.wk = store.add(`${name}.k.kernel`, normalInit(rng, [maxWidth, inner], INIT_STD));
    this.wv = store.add(`${name}.v.kernel`, normalInit(rng, [maxWidth, inner], INIT_STD));
    this.bq = store.add(`${name}.q.bias`, tf.zeros([inner]));
    this.bk = store.add(`${name}.k.bias`, tf.zeros([inner]));
    this.bv = store.add(`${name}.v.bias`, tf.zeros([inner]));
    this.wo = store.add(`${name}.o.kernel`, normalInit(rng, [inner, maxWidth], INIT_STD));
    this.bo = store.add(`${name}.o.bias`, tf.zeros([maxWidth]));
  }

  /** x [B, T, d] → [B, T, d] with the first `heads` heads. */
  apply(x: tf.Tensor3D, choice: AttentionChoice): tf.Tensor3D {
    const [B, T, d] = x.shape;
    const h = choice.heads;
    if (d > this.maxWidth) throw new Error(`${this.name}: width ${d} exceeds the allocated ${this.maxWidth}`);
    if (!Number.isInteger(h) || h < 1 || h > this.maxHeads) throw new Error(`${this.name}: heads ${h} is not in 1…${this.maxHeads}`);
    const dh = this.headDim;
    const inner = h * dh;
    return tf.tidy(() => {
      const rows = tf.reshape(x, [B * T, d]);
      // [B·T, h·dₕ] → [B, h, T, dₕ]
      const project = (w: tf.Variable, b: tf.Variable) =>
        tf.transpose(tf.reshape(tf.add(tf.matMul(rows, w.slice([0, 0], [d, inner])), b.slice(0, inner)), [B, T, h, dh]), [0, 2, 1, 3]);
      const q = project(this.wq, this.bq);
      const k = project(this.wk, this.bk);
      const v = project(this.wv, this.bv);
      let scores = tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(dh));
      if (this.causal) scores = tf.add(scores, causalMask(T));
      const attended = tf.matMul(tf.softmax(scores, -1), v); // [B, h, T, dₕ]
      const merged = tf.reshape(tf.transpose(attended, [0, 2, 1, 3]), [B * T, inner]);
      const out = tf.add(tf.matMul(merged, this.wo.slice([0, 0], [inner, d])), this.bo.slice(0, d));
      return tf.reshape(out, [B, T, d]) as tf.Tensor3D;
    });
  }

  /** Q, K, V, O kernels and biases at width d and h heads. */
  static params(d: number, heads: number, headDim: number): number {
    const inner = heads * headDim;
    return 3 * (d * inner + inner) + inner * d + d;
  }

  /**
   * 2 × multiply-accumulates for one sequence of T tokens: the four projections (4·T·d·h·dₕ) and the two
   * attention products QKᵀ and PV (2·h·T²·dₕ); a causal model is counted at full T² (what the dense kernel runs).
   */
  static flops(d: number, heads: number, headDim: number, T: number): number {
    const inner = heads * headDim;
    return 2 * (4 * T * d * inner + 2 * heads * T * T * headDim);
  }
}

/** [T, T] additive mask: 0 where key ≤ query, MASK_VALUE after it. */
export function causalMask(T: number): tf.Tensor2D {
  const m = new Float32Array(T * T);
  for (let i = 0; i < T; i++) for (let j = i + 1; j < T; j++) m[i * T + j] = MASK_VALUE;
  return tf.tensor2d(m, [T, T]);
}
