/**
 * Mixture-of-Supernets, layer-wise (Jawahar et al., 2024, "Mixture-of-Supernets: Improving Weight-Sharing
 * Supernet Training with Architecture-Routed Mixture-of-Experts", ACL Findings; reference UBC-NLP/MoS,
 * mos-bert/custom_layers/custom_bert.py, expert_routing_type `archrouting_jack_2L`): a block's weights are K
 * weight sets mixed by a router on the architecture,
 *   W(a) = Σ_k α_k(a) W_k,  α(a) = softmax(W₂ · ReLU(W₁ · a + b₁) + b₂),
 * a the subnet's architecture features (core/space/archFeatures.ts); the subnet then slices W(a) as it slices
 * any weight. The router runs once per forward pass, not per token: each architecture gets its own weights
 * while the sets stay shared, which is how MoS eases the interference between subnets of one weight-sharing
 * supernet. Defaults of the reference's experiments: K = 2 sets, router hidden 128; torch's Linear
 * initialisation U(±1/√fan_in) for the router. An exported subnet holds only its W(a) (`mixHost`): the router
 * and the sets are training-time machinery.
 * Deviations: the reference's features are the subnet's sampled hidden sizes min-max normalised; here every
 * codec position that has a choice (archFeatures.ts). Only the layer-wise variant (one α per layer), not the
 * neuron-wise one (an α per output unit).
 */
import * as tf from '@tensorflow/tfjs';
import type { Rng } from '../../space/rng.js';
import type { WeightArray } from '../graph/ops.js';
import type { VariableStore } from '../init.js';
import { weightArray } from '../moe/MoELayer.js';

export class ArchRouter {
  readonly w1: tf.Variable;
  readonly b1: tf.Variable;
  readonly w2: tf.Variable;
  readonly b2: tf.Variable;
  /** Router input rows: the space's feature count (at least 1: a space without choices reads one constant 0). */
  readonly rows: number;

  constructor(
    readonly name: string,
    features: number,
    hidden: number,
    readonly sets: number,
    store: VariableStore,
    rng: Rng,
  ) {
    this.rows = Math.max(1, features);
    const uniform = (shape: number[], fanIn: number) => {
      const bound = 1 / Math.sqrt(fanIn);
      return tf.tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => (rng.next() * 2 - 1) * bound), shape);
    };
    this.w1 = store.add(`${name}.w1`, uniform([this.rows, hidden], this.rows));
    this.b1 = store.add(`${name}.b1`, uniform([hidden], this.rows));
    this.w2 = store.add(`${name}.w2`, uniform([hidden, sets], hidden));
    this.b2 = store.add(`${name}.b2`, uniform([sets], hidden));
  }

  private input(features: readonly number[]): number[] {
    const a = features.length === 0 ? [0] : [...features];
    if (a.length !== this.rows) throw new Error(`${this.name}: ${features.length} architecture features, the router reads ${this.rows}`);
    return a;
  }

  /** α(a) [K] on the gradient tape. */
  alpha(features: readonly number[]): tf.Tensor1D {
    const a = tf.tensor2d([this.input(features)]);
    const h = tf.relu(tf.add(tf.matMul(a, this.w1), this.b1));
    return tf.reshape(tf.softmax(tf.add(tf.matMul(h, this.w2), this.b2)), [this.sets]) as tf.Tensor1D;
  }

  /** α(a) in plain JS from the variables' values (the export path; WebGPU reads go through weightArray's host copies). */
  alphaHost(features: readonly number[]): number[] {
    const a = this.input(features);
    const H = this.w1.shape[1]!;
    const w1 = weightArray(this.w1, [0, 0], [this.rows, H]).data;
    const b1 = weightArray(this.b1, [0], [H]).data;
    const w2 = weightArray(this.w2, [0, 0], [H, this.sets]).data;
    const b2 = weightArray(this.b2, [0], [this.sets]).data;
    const h = Array.from({ length: H }, (_, j) => Math.max(0, a.reduce((s, v, i) => s + v * w1[i * H + j]!, b1[j]!)));
    const z = Array.from({ length: this.sets }, (_, k) => h.reduce((s, v, j) => s + v * w2[j * this.sets + k]!, b2[k]!));
    const m = Math.max(...z);
    const e = z.map((v) => Math.exp(v - m));
    const sum = e.reduce((s, v) => s + v, 0);
    return e.map((v) => v / sum);
  }

  /** Router parameters (training-time only: an exported subnet does not hold them). */
  get paramCount(): number {
    return this.w1.size + this.b1.size + this.w2.size + this.b2.size;
  }
}

/** Σ_k α_k · part_k on the tape (the parts already sliced to the subnet). */
export function mixTensors(alpha: tf.Tensor1D, parts: readonly tf.Tensor[]): tf.Tensor {
  return parts.map((p, k) => tf.mul(tf.squeeze(tf.slice(alpha, [k], [1])), p)).reduce((s, t) => tf.add(s, t));
}

/** Σ_k α_k · part_k on the host (an exported subnet's weights). */
export function mixHost(alpha: readonly number[], parts: readonly WeightArray[]): WeightArray {
  const data = new Float32Array(parts[0]!.data.length);
  parts.forEach((p, k) => p.data.forEach((v, i) => (data[i] += alpha[k]! * v)));
  return { data, shape: [...parts[0]!.shape] };
}
