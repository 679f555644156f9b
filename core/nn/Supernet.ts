/**
 * The weight-sharing supernet of a SearchSpace (Once-for-All, Cai et al., 2020): every subnet's weights
 * are slices of the supernet's.
 *
 * - Elastic depth keeps the first d blocks of a stage; elastic width keeps the first w units (dense) or
 *   channels (conv); elastic kernel keeps the centre k×k of the largest kernel; elastic expert hidden
 *   keeps each expert's first h/m hidden units.
 * - Widths follow core/space/planSpace.ts: no stem; a vector input feeds the first layer directly;
 *   images flow NHWC through conv stages and are globally average-pooled (flattened when the space
 *   has no conv stage) before the first dense/moe stage or the head; an identity op passes the tensor
 *   through; an MoE block keeps its input width. A dense block's residual is used only where its input
 *   and output widths are equal (OFA keeps shortcuts only where shapes match).
 * - Conv blocks use BatchNorm with running statistics in non-trainable variables (batch statistics
 *   while training, running ones at inference). Running statistics of a supernet mix every subnet, so
 *   evaluate a subnet after `recalibrateBatchNorm`, as OFA does.
 * - The classifier head reads the first `d` rows of its kernel, d being the width that reaches it.
 *
 * Variable names: "<stage>.b<j>.dense.kernel|bias", "<stage>.b<j>.conv.kernel|bias",
 * "<stage>.b<j>.bn.gamma|beta|mean|variance", "<stage>.b<j>.moe.router", "<stage>.b<j>.moe.e<i>.w1|b1|w2|b2",
 * "<stage>.b<j>.moe.shared<i>.…", "<stage>.b<j>.moe.const", "head.kernel|bias".
 */
import * as tf from '@tensorflow/tfjs';
import { validateArch } from '../space/archCodec.js';
import { planSpace, type SpacePlan } from '../space/planSpace.js';
import { createRng, type Rng } from '../space/rng.js';
import type { Arch, BlockChoice, ConvBlock, DenseBlock, SearchSpace } from '../space/SearchSpace.js';
import { activate } from './activations.js';
import { conv2dSame } from './conv.js';
import { batchNormFusedSupported, batchNormTrainFused, updateRunningStat } from './webgpu/batchNormFused.js';
import { conv2dSameWebgpu, convFastSupported } from './webgpu/convFilterGrad.js';
import { denseFused, denseFusedSupported } from './webgpu/denseFused.js';
import { glorotUniform, VariableStore } from './init.js';
import { MoELayer, weightArray, type MoEForwardContext } from './moe/MoELayer.js';
import { newForwardContext } from './routers/router.js';
import type { SubnetLayer } from './subnetLayers.js';
import type { ForwardOptions, ForwardResult, MoELayerOutput, Supernet } from './types.js';

export type { SubnetLayer } from './subnetLayers.js';

/** BatchNorm epsilon (Keras' default). */
export const BN_EPSILON = 1e-3;
/** Running statistics: new = momentum · old + (1 − momentum) · batch. */
export const BN_MOMENTUM = 0.9;

export interface SupernetOptions {
  seed?: number;
}

interface DenseLayer {
  kind: 'dense';
  name: string;
  block: DenseBlock;
  inMax: number;
  kernel: tf.Variable;
  bias: tf.Variable;
}

interface ConvLayer {
  kind: 'conv';
  name: string;
  block: ConvBlock;
  inMax: number;
  kMax: number;
  kernel: tf.Variable;
  bias: tf.Variable | null;
  bn: { gamma: tf.Variable; beta: tf.Variable; mean: tf.Variable; variance: tf.Variable } | null;
}

interface MoEWrapper {
  kind: 'moe';
  name: string;
  layer: MoELayer;
}

type Layer = DenseLayer | ConvLayer | MoEWrapper;

/** Collects per-layer batch statistics while recalibrating BatchNorm. */
type BnCollector = Map<string, { mean: tf.Tensor1D[]; variance: tf.Tensor1D[] }>;

const maxOf = (xs: readonly number[]) => Math.max(...xs);

/** Output width of one block choice given its input width. */
function blockOutWidth(choice: BlockChoice, inWidth: number): number {
  if (choice.op === 'identity') return inWidth;
  return choice.width ?? choice.channels ?? inWidth;
}

export class ElasticSupernet implements Supernet {
  readonly plan: SpacePlan;
  /** layers[stage][block] */
  readonly layers: Layer[][];
  private readonly store = new VariableStore();
  private readonly head: { kernel: tf.Variable; bias: tf.Variable };
  private bnCollector: BnCollector | null = null;

  constructor(
    readonly space: SearchSpace,
    opts: SupernetOptions = {},
  ) {
    const rng: Rng = createRng(opts.seed ?? 1);
    this.plan = planSpace(space);
    this.layers = space.stages.map((stage, i) => {
      const stagePlan = this.plan.stages[i]!;
      const out: Layer[] = [];
      let inMax = stagePlan.inMax;
      for (let j = 0; j < maxOf(stage.depth); j++) {
        const name = `${stage.id}.b${j}`;
        const b = stage.block;
        if (b.type === 'dense') {
          const w = maxOf(b.width);
          out.push({
            kind: 'dense',
            name,
            block: b,
            inMax,
            kernel: this.store.add(`${name}.dense.kernel`, glorotUniform(rng, [inMax, w], inMax, w)),
            bias: this.store.add(`${name}.dense.bias`, tf.zeros([w])),
          });
          inMax = Math.max(w, b.ops.includes('identity') ? inMax : 0);
        } else if (b.type === 'conv') {
          const c = maxOf(b.channels);
          const k = maxOf(b.kernel);
          out.push({
            kind: 'conv',
            name,
            block: b,
            inMax,
            kMax: k,
            kernel: this.store.add(`${name}.conv.kernel`, glorotUniform(rng, [k, k, inMax, c], k * k * inMax, k * k * c)),
            bias: b.batchNorm ? null : this.store.add(`${name}.conv.bias`, tf.zeros([c])),
            bn: b.batchNorm
              ? {
                  gamma: this.store.add(`${name}.bn.gamma`, tf.ones([c])),
                  beta: this.store.add(`${name}.bn.beta`, tf.zeros([c])),
                  mean: this.store.add(`${name}.bn.mean`, tf.zeros([c]), false),
                  variance: this.store.add(`${name}.bn.variance`, tf.ones([c]), false),
                }
              : null,
          });
          inMax = Math.max(c, b.ops.includes('identity') ? inMax : 0);
        } else {
          out.push({ kind: 'moe', name, layer: new MoELayer(name, b, inMax, this.store, rng) });
        }
      }
      return out;
    });
    const d = this.plan.headInMax;
    const n = space.numClasses;
    this.head = {
      kernel: this.store.add('head.kernel', glorotUniform(rng, [d, n], d, n)),
      bias: this.store.add('head.bias', tf.zeros([n])),
    };
  }

  private checkArch(arch: Arch): void {
    const issues = validateArch(this.space, arch);
    if (issues.length > 0) {
      const first = issues[0]!;
      throw new Error(`arch is not a subnet of "${this.space.name}": ${first.path}: ${first.message}${issues.length > 1 ? ` (and ${issues.length - 1} more)` : ''}`);
    }
  }

  /** Image → vector where the space says so: global average pooling after conv stages, else flatten. */
  private toVector(h: tf.Tensor): tf.Tensor2D {
    if (h.rank === 2) return h as tf.Tensor2D;
    return (this.plan.hasConv ? tf.mean(h, [1, 2]) : tf.reshape(h, [h.shape[0]!, -1])) as tf.Tensor2D;
  }

  apply(x: tf.Tensor, arch: Arch, opts: ForwardOptions): ForwardResult {
    this.checkArch(arch);
    const reports: MoELayerOutput[] = [];
    let aux: tf.Scalar = tf.scalar(0);
    let h = x;
    // One context per pass, threaded through the MoE layers in forward order (MoE++ gating residuals).
    const moeCtx: MoEForwardContext = newForwardContext();
    this.space.stages.forEach((stage, i) => {
      const sa = arch.stages[i]!;
      if (stage.block.type !== 'conv') h = this.toVector(h);
      for (let j = 0; j < sa.depth; j++) {
        const choice = sa.blocks[j]!;
        const layer = this.layers[i]![j]!;
        if (choice.op === 'identity') continue;
        if (layer.kind === 'dense') h = this.applyDense(layer, h as tf.Tensor2D, choice.width!);
        else if (layer.kind === 'conv') h = this.applyConv(layer, h as tf.Tensor4D, choice.channels!, choice.kernel!, opts.training);
        else {
          const { y, report } = layer.layer.apply(h as tf.Tensor2D, choice.expertHidden!, opts, moeCtx);
          h = y;
          reports.push(report);
          // Balance, z- and the router's own losses, each with its weight (core/nn/routers/router.ts route).
          for (const l of report.losses ?? []) aux = tf.add(aux, tf.mul(l.weight, l.value));
        }
      }
    });
    const v = this.toVector(h);
    const d = v.shape[1];
    // WebGPU: one fused kernel per dense product (core/nn/webgpu/denseFused.ts); elsewhere plain ops.
    const logits = denseFusedSupported('linear')
      ? denseFused(v, this.head.kernel as tf.Tensor2D, this.head.bias as tf.Tensor1D, this.space.numClasses, 'linear')
      : (tf.add(tf.matMul(v, this.head.kernel.slice([0, 0], [d, this.space.numClasses])), this.head.bias) as tf.Tensor2D);
    return { logits, auxLoss: aux, moe: reports };
  }

  private applyDense(layer: DenseLayer, h: tf.Tensor2D, width: number): tf.Tensor2D {
    const d = h.shape[1];
    const act = layer.block.activation;
    const y = denseFusedSupported(act)
      ? denseFused(h, layer.kernel as tf.Tensor2D, layer.bias as tf.Tensor1D, width, act)
      : (activate(tf.add(tf.matMul(h, layer.kernel.slice([0, 0], [d, width])), layer.bias.slice(0, width)), act) as tf.Tensor2D);
    return layer.block.residual && d === width ? tf.add(h, y) : y;
  }

  private applyConv(layer: ConvLayer, h: tf.Tensor4D, channels: number, kernel: number, training: boolean): tf.Tensor4D {
    const cin = h.shape[3];
    const off = (layer.kMax - kernel) / 2;
    const k = layer.kernel.slice([off, off, 0, 0], [kernel, kernel, cin, channels]) as tf.Tensor4D;
    // WebGPU: tfjs' Conv2DBackpropFilter is replaced by an im2col matmul (core/nn/webgpu/convFilterGrad.ts).
    let y = convFastSupported() ? conv2dSameWebgpu(h, k, layer.block.stride) : conv2dSame(h, k, layer.block.stride);
    if (layer.bias) y = tf.add(y, layer.bias.slice(0, channels));
    if (layer.bn && training && !this.bnCollector && batchNormFusedSupported()) {
      // WebGPU: batch statistics, normalisation, its gradient and the running-statistics update as a few
      // kernels reading γ, β in place (core/nn/webgpu/batchNormFused.ts); same function as below.
      const bn = layer.bn;
      const out = batchNormTrainFused(y as tf.Tensor4D, bn.gamma as tf.Tensor1D, bn.beta as tf.Tensor1D, BN_EPSILON);
      // Assignments are not recorded on the gradient tape, so the statistics need no detaching.
      tf.tidy(() => {
        updateRunningStat(bn.mean, out.stats, 0, BN_MOMENTUM);
        updateRunningStat(bn.variance, out.stats, 1, BN_MOMENTUM);
      });
      y = out.y;
    } else if (layer.bn) {
      const bn = layer.bn;
      const gamma = bn.gamma.slice(0, channels) as tf.Tensor1D;
      const beta = bn.beta.slice(0, channels) as tf.Tensor1D;
      if (training || this.bnCollector) {
        // Batch statistics from primitive ops: tfjs' fused batchNorm / moments gradients fail on wasm.
        const mean = tf.mean(y, [0, 1, 2]) as tf.Tensor1D;
        const centred = tf.sub(y, mean);
        const variance = tf.mean(tf.square(centred), [0, 1, 2]) as tf.Tensor1D;
        if (this.bnCollector) {
          let entry = this.bnCollector.get(layer.name);
          if (!entry) this.bnCollector.set(layer.name, (entry = { mean: [], variance: [] }));
          entry.mean.push(tf.keep(mean));
          entry.variance.push(tf.keep(variance));
        } else {
          tf.tidy(() => {
            const upd = (v: tf.Variable, batch: tf.Tensor) => {
              const head = tf.add(tf.mul(BN_MOMENTUM, v.slice(0, channels)), tf.mul(1 - BN_MOMENTUM, batch));
              const tail = v.shape[0]! > channels ? v.slice(channels) : null;
              v.assign(tail ? tf.concat([head, tail]) : head);
            };
            // Assignments are not recorded on the gradient tape, so the statistics need no detaching.
            upd(bn.mean, mean);
            upd(bn.variance, variance);
          });
        }
        y = tf.add(tf.mul(tf.mul(centred, tf.rsqrt(tf.add(variance, BN_EPSILON))), gamma), beta) as tf.Tensor4D;
      } else {
        const scale = tf.mul(tf.rsqrt(tf.add(bn.variance.slice(0, channels), BN_EPSILON)), gamma);
        y = tf.add(tf.mul(tf.sub(y, bn.mean.slice(0, channels)), scale), beta) as tf.Tensor4D;
      }
    }
    return activate(y, layer.block.activation);
  }

  trainableVariables(): tf.Variable[] {
    return this.store.trainable();
  }

  namedVariables(): Map<string, tf.Variable> {
    return this.store.named();
  }

  /** The MoE layers in forward order (for reports and tests). */
  moeLayers(): MoELayer[] {
    return this.layers.flat().flatMap((l) => (l.kind === 'moe' ? [l.layer] : []));
  }

  /**
   * Walk the subnet's shapes: calls `visit` for every kept, non-identity block with its input width
   * and (for conv) input spatial size.
   */
  private walk(
    arch: Arch,
    visit: (layer: Layer, choice: BlockChoice, inWidth: number, spatial: [number, number]) => void,
  ): { headIn: number } {
    this.checkArch(arch);
    const input = this.space.input;
    let width = input.kind === 'vector' ? input.dim : input.channels;
    let spatial: [number, number] = input.kind === 'image' ? [input.height, input.width] : [1, 1];
    let image = input.kind === 'image';
    const flatten = () => {
      if (!image) return;
      if (!this.plan.hasConv) width = width * spatial[0] * spatial[1];
      image = false;
      spatial = [1, 1];
    };
    this.space.stages.forEach((stage, i) => {
      if (stage.block.type !== 'conv') flatten();
      const sa = arch.stages[i]!;
      for (let j = 0; j < sa.depth; j++) {
        const choice = sa.blocks[j]!;
        if (choice.op === 'identity') continue;
        const layer = this.layers[i]![j]!;
        visit(layer, choice, width, spatial);
        if (layer.kind === 'conv' && layer.block.stride === 2) spatial = [Math.ceil(spatial[0] / 2), Math.ceil(spatial[1] / 2)];
        width = blockOutWidth(choice, width);
      }
    });
    flatten();
    return { headIn: width };
  }

  countParams(arch: Arch): number {
    let total = 0;
    const { headIn } = this.walk(arch, (layer, c, d) => {
      if (layer.kind === 'dense') total += d * c.width! + c.width!;
      else if (layer.kind === 'conv') total += c.kernel! * c.kernel! * d * c.channels! + (layer.bn ? 4 : 1) * c.channels!;
      else total += layer.layer.countParams(d, c.expertHidden!);
    });
    return total + headIn * this.space.numClasses + this.space.numClasses;
  }

  countFlops(arch: Arch): number {
    let total = 0;
    const { headIn } = this.walk(arch, (layer, c, d, [hgt, wid]) => {
      if (layer.kind === 'dense') total += 2 * d * c.width!;
      else if (layer.kind === 'conv') {
        const s = layer.block.stride;
        total += 2 * c.kernel! * c.kernel! * d * c.channels! * Math.ceil(hgt / s) * Math.ceil(wid / s);
      } else total += layer.layer.countFlops(d, c.expertHidden!);
    });
    return total + 2 * headIn * this.space.numClasses;
  }

  /** The subnet's concrete layers with sliced weights (format: core/nn/subnetLayers.ts). */
  subnetLayers(arch: Arch): SubnetLayer[] {
    const out: SubnetLayer[] = [];
    let image = this.space.input.kind === 'image';
    const toVector = (name: string) => {
      if (!image) return;
      out.push(this.plan.hasConv ? { kind: 'globalAvgPool', name } : { kind: 'flatten', name });
      image = false;
    };
    const { headIn } = this.walk(arch, (layer, c, d) => {
      if (layer.kind !== 'conv') toVector(`${layer.name}.pool`);
      if (layer.kind === 'dense') {
        out.push({
          kind: 'dense',
          name: layer.name,
          activation: layer.block.activation,
          kernel: weightArray(layer.kernel, [0, 0], [d, c.width!]),
          bias: weightArray(layer.bias, [0], [c.width!]),
          residual: layer.block.residual && d === c.width,
        });
      } else if (layer.kind === 'conv') {
        const off = (layer.kMax - c.kernel!) / 2;
        const ch = c.channels!;
        const bn = layer.bn;
        out.push({
          kind: 'conv',
          name: layer.name,
          activation: layer.block.activation,
          kernel: weightArray(layer.kernel, [off, off, 0, 0], [c.kernel!, c.kernel!, d, ch]),
          stride: layer.block.stride,
          bias: layer.bias ? weightArray(layer.bias, [0], [ch]) : null,
          batchNorm: bn
            ? {
                gamma: weightArray(bn.gamma, [0], [ch]),
                beta: weightArray(bn.beta, [0], [ch]),
                mean: weightArray(bn.mean, [0], [ch]),
                variance: weightArray(bn.variance, [0], [ch]),
                epsilon: BN_EPSILON,
              }
            : null,
        });
      } else out.push(layer.layer.subnetLayer(d, c.expertHidden!));
    });
    toVector('head.pool');
    out.push({
      kind: 'head',
      name: 'head',
      kernel: weightArray(this.head.kernel, [0, 0], [headIn, this.space.numClasses]),
      bias: weightArray(this.head.bias, [0], [this.space.numClasses]),
    });
    return out;
  }

  /** Run batches through the subnet collecting BN batch statistics (no running-stat updates). */
  collectBatchNormStats(arch: Arch, batches: readonly tf.Tensor[]): BnCollector {
    this.bnCollector = new Map();
    try {
      for (const b of batches) tf.tidy(() => void this.apply(b, arch, { training: false }));
      return this.bnCollector;
    } finally {
      this.bnCollector = null;
    }
  }

  dispose(): void {
    this.store.dispose();
  }
}

export function buildSupernet(space: SearchSpace, opts: SupernetOptions = {}): ElasticSupernet {
  return new ElasticSupernet(space, opts);
}

/**
 * Reset and re-estimate the BatchNorm running statistics of one subnet from a few batches (the mean
 * of per-batch means and variances), as OFA does before evaluating a subnet (Cai et al., 2020, §3.3).
 * Only the subnet's channels change; a no-op for spaces without BatchNorm.
 */
export function recalibrateBatchNorm(outer: Supernet, arch: Arch, batches: readonly tf.Tensor[]): void {
  const net = outer.resolve?.(arch) ?? outer;
  if (!(net instanceof ElasticSupernet)) throw new Error('recalibrateBatchNorm needs a supernet from buildSupernet');
  if (batches.length === 0) return;
  const stats = net.collectBatchNormStats(arch, batches);
  for (const layer of net.layers.flat()) {
    if (layer.kind !== 'conv' || !layer.bn) continue;
    const s = stats.get(layer.name);
    if (!s) continue;
    const bn = layer.bn;
    tf.tidy(() => {
      const set = (v: tf.Variable, rows: tf.Tensor1D[]) => {
        const head = tf.mean(tf.stack(rows), 0);
        const c = head.shape[0]!;
        v.assign(v.shape[0]! > c ? tf.concat([head, v.slice(c)]) : head);
      };
      set(bn.mean, s.mean);
      set(bn.variance, s.variance);
    });
  }
  for (const s of stats.values()) tf.dispose([...s.mean, ...s.variance]);
}

/**
 * The subnet's layers with weights sliced out of the supernet, in forward order (format and semantics
 * in core/nn/subnetLayers.ts). Search/export turn this into a standalone model.
 */
export function subnetWeights(outer: Supernet, arch: Arch): SubnetLayer[] {
  const net = outer.resolve?.(arch) ?? outer;
  if (!(net instanceof ElasticSupernet)) throw new Error('subnetWeights needs a supernet from buildSupernet');
  return net.subnetLayers(arch);
}
