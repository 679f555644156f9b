/**
 * The tfjs LayersModel writer's shared builders (./tfjsExport.ts): unique layer names, Dense layers whose
 * weights are set after the model is built, fixed linear maps (the exact comparison plumbing the module
 * comment of tfjsExport.ts describes), and the per-graph state MoE ops carry across layers. The selection
 * writers (./selections/) build their masks with them.
 */
import * as tf from '@tensorflow/tfjs';
import type { DenseWeights, Ffn } from '../nn/graph/ops.js';

/** 2^100: exact scaling for the comparison layers (see the module comment). */
export const K_CMP = 2 ** 100;
export const MASK_BIG = 1e9;

export type SymbolicTensor = tf.SymbolicTensor;

interface Pending {
  layer: tf.layers.Layer;
  weights: () => tf.Tensor[];
}

export class Builder {
  readonly pending: Pending[] = [];
  private used = new Set<string>();
  /** Router logits of the last MoE op built, and its slot count (MoE++ gating residuals). */
  lastLogits: { t: SymbolicTensor; slots: number } | null = null;

  name(base: string): string {
    // tfjs scopes weight names by layer name and rejects names that do not start with a letter or digit.
    const clean = base.replace(/[^\w]/g, '_').replace(/^_+/, 'n_');
    let n = clean;
    for (let i = 1; this.used.has(n); i++) n = `${clean}_${i}`;
    this.used.add(n);
    return n;
  }

  /** RMoE chains (core/nn/graph/ops.ts MoEOp.recurrent): the state the last op of each left, and its cell. */
  readonly chains = new Map<string, { h: SymbolicTensor; cell: (xp: SymbolicTensor, h: SymbolicTensor) => SymbolicTensor }>();
  /** MomentumSMoE: the buffer the last momentum op left, and its width. */
  momentum: { p: SymbolicTensor; dim: number } | null = null;

  /** A Dense layer whose weights are set once the model is built. */
  dense(x: SymbolicTensor, w: DenseWeights, name: string, activation?: string, trainable = true): SymbolicTensor {
    return this.denseLayer(w, name, activation, trainable).apply(x) as SymbolicTensor;
  }

  /** The Dense layer of `dense`, to apply more than once (its weights shared: RMoE's GRU cell). */
  denseLayer(w: DenseWeights, name: string, activation?: string, trainable = true): tf.layers.Layer {
    const layer = tf.layers.dense({
      units: w.outDim,
      useBias: w.bias !== null,
      activation: (activation ?? 'linear') as never,
      name: this.name(name),
      trainable,
    });
    this.pending.push({
      layer,
      weights: () => [tf.tensor2d(w.kernel, [w.inDim, w.outDim]), ...(w.bias ? [tf.tensor1d(w.bias)] : [])],
    });
    return layer;
  }

  /** A fixed linear map (comparison and routing plumbing): kernel [inDim, outDim], optional bias. */
  fixed(x: SymbolicTensor, kernel: Float32Array, inDim: number, outDim: number, bias: Float32Array | null, name: string): SymbolicTensor {
    return this.dense(x, { kernel, bias, inDim, outDim }, name, undefined, false);
  }

  clip01(x: SymbolicTensor, name: string): SymbolicTensor {
    return tf.layers.reLU({ maxValue: 1, name: this.name(name) }).apply(x) as SymbolicTensor;
  }

  add(xs: SymbolicTensor[], name: string): SymbolicTensor {
    if (xs.length === 1) return xs[0]!;
    return tf.layers.add({ name: this.name(name) }).apply(xs) as SymbolicTensor;
  }

  multiply(a: SymbolicTensor, b: SymbolicTensor, name: string): SymbolicTensor {
    return tf.layers.multiply({ name: this.name(name) }).apply([a, b]) as SymbolicTensor;
  }

  minimum(a: SymbolicTensor, b: SymbolicTensor, name: string): SymbolicTensor {
    return tf.layers.minimum({ name: this.name(name) }).apply([a, b]) as SymbolicTensor;
  }
}

/** Each expert's two Dense layers, made once per graph (Chain-of-Experts passes apply them again). */
const ffnLayers = new WeakMap<Builder, Map<Ffn, [tf.layers.Layer, tf.layers.Layer]>>();

export function ffn(b: Builder, x: SymbolicTensor, f: Ffn, name: string): SymbolicTensor {
  let made = ffnLayers.get(b);
  if (!made) ffnLayers.set(b, (made = new Map()));
  let layers = made.get(f);
  if (!layers) made.set(f, (layers = [b.denseLayer(f.up, `${name}_up`, f.activation), b.denseLayer(f.down, `${name}_down`)]));
  return layers[1].apply(layers[0].apply(x)) as SymbolicTensor;
}

export class UnsupportedExportError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnsupportedExportError';
  }
}
