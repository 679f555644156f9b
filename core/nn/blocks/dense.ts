/**
 * The dense block (core/space/blocks/dense.ts): y = act(x·W[:d, :w] + b[:w]) at chosen width w, plus x
 * where `residual` is set and the input width equals w (OFA keeps shortcuts only where shapes match). On a
 * sequence it acts on every token. Variables "<name>.dense.kernel" [inMax, wMax] and "<name>.dense.bias".
 */
import * as tf from '@tensorflow/tfjs';
import type { BlockChoice, DenseBlock } from '../../space/SearchSpace.js';
import { activate } from '../activations.js';
import type { SubnetOp } from '../graph/ops.js';
import { denseOf } from '../graph/weights.js';
import { maybeFakeQuant } from '../fakeQuant.js';
import { quantizeBlockOps } from '../graph/quantize.js';
import { glorotUniform } from '../init.js';
import { weightArray } from '../moe/MoELayer.js';
import type { ForwardContext } from '../forwardContext.js';
import { denseFused, denseFusedSupported } from '../webgpu/denseFused.js';
import type { Act, CompiledForward, StepCompiler } from '../webgpu/step/compiler.js';
import { compileDense } from '../webgpu/step/denseStep.js';
import { ArchRouter, mixHost, mixTensors } from './archMixture.js';
import type { ActivationShape, BlockBuild, BlockInstance, ElasticBlock, SubnetContext } from './block.js';
import { onRows } from './shapes.js';
import { dense as denseDescriptor } from '../../space/blocks/dense.js';

class DenseInstance implements BlockInstance {
  readonly type = 'dense';
  readonly name: string;
  private readonly block: DenseBlock;
  private readonly kernel: tf.Variable;
  private readonly bias: tf.Variable;
  /**
   * Mixture-of-Supernets (the block's `archMixture`, ./archMixture.ts): weight sets 2..K beside `kernel` /
   * `bias` (set 1), and the router on the architecture features; null without it.
   */
  readonly mixture: { kernels: tf.Variable[]; biases: tf.Variable[]; router: ArchRouter } | null;

  constructor({ name, block, inMax, store, rng, archFeatures }: BlockBuild<DenseBlock>) {
    this.name = name;
    this.block = block;
    const w = Math.max(...block.width);
    this.kernel = store.add(`${name}.dense.kernel`, glorotUniform(rng, [inMax, w], inMax, w));
    this.bias = store.add(`${name}.dense.bias`, tf.zeros([w]));
    // Drawn after the first set, only with the option on, so other spaces keep their weights.
    const m = block.archMixture;
    if (m) {
      const sets = Array.from({ length: m.sets - 1 }, (_, k) => k + 2);
      const kernels = [this.kernel, ...sets.map((k) => store.add(`${name}.dense.kernel.set${k}`, glorotUniform(rng, [inMax, w], inMax, w)))];
      const biases = [this.bias, ...sets.map((k) => store.add(`${name}.dense.bias.set${k}`, tf.zeros([w])))];
      this.mixture = { kernels, biases, router: new ArchRouter(`${name}.dense.mos`, archFeatures ?? 0, m.hidden, m.sets, store, rng) };
    } else this.mixture = null;
  }

  /** The subnet's kernel [d, w] and bias [w]: the supernet's slices, or MoS's mixture of every set's slices. */
  private weights(d: number, width: number, archFeatures: readonly number[] | undefined): { kernel: tf.Tensor; bias: tf.Tensor } {
    const slice = (k: tf.Variable, b: tf.Variable) => ({ kernel: k.slice([0, 0], [d, width]), bias: b.slice(0, width) });
    if (!this.mixture) return slice(this.kernel, this.bias);
    if (!archFeatures) throw new Error(`${this.name}: Mixture-of-Supernets weights need the subnet's architecture features (a forward pass through Supernet.apply)`);
    const alpha = this.mixture.router.alpha(archFeatures);
    const parts = this.mixture.kernels.map((k, i) => slice(k, this.mixture!.biases[i]!));
    return { kernel: mixTensors(alpha, parts.map((p) => p.kernel)), bias: mixTensors(alpha, parts.map((p) => p.bias)) };
  }

  apply(x: tf.Tensor, choice: BlockChoice, ctx?: ForwardContext): tf.Tensor {
    const width = choice.width!;
    const act = this.block.activation;
    const bits = choice.bits !== undefined && choice.bits < 32 ? choice.bits : undefined;
    return onRows(x, (h) => {
      const d = h.shape[1];
      // Mixture-of-Supernets: the mixed kernel (computed once per call) through plain ops.
      if (this.mixture) {
        const { kernel, bias } = this.weights(d, width, ctx?.archFeatures);
        const y = activate(tf.add(tf.matMul(h, maybeFakeQuant(kernel, bits)), bias), act) as tf.Tensor2D;
        return this.block.residual && d === width ? tf.add(h, y) : y;
      }
      // WebGPU: one fused kernel per dense product (core/nn/webgpu/denseFused.ts); elsewhere plain ops. A
      // `bits` choice fake-quantises the sliced kernel (straight-through gradient, core/nn/fakeQuant.ts).
      const y = bits === undefined && denseFusedSupported(act)
        ? denseFused(h, this.kernel as tf.Tensor2D, this.bias as tf.Tensor1D, width, act)
        : (activate(tf.add(tf.matMul(h, maybeFakeQuant(this.kernel.slice([0, 0], [d, width]), bits)), this.bias.slice(0, width)), act) as tf.Tensor2D);
      return this.block.residual && d === width ? tf.add(h, y) : y;
    });
  }

  /** The compiled step (core/nn/webgpu/step/denseStep.ts): plain slices only (no mixture, no fake-quant). */
  compile(choice: BlockChoice, x: Act, c: StepCompiler): CompiledForward | string {
    if (this.mixture) return `${this.name}: Mixture-of-Supernets weights are not compiled`;
    if (choice.bits !== undefined && choice.bits < 32) return `${this.name}: fake-quantised weights are not compiled`;
    const width = choice.width!;
    const rows = c.batch * x.shape.length;
    const { y, layer } = compileDense(c, { name: this.name, kernel: this.kernel, bias: this.bias, rows, d: x.shape.width, w: width, act: this.block.activation, residual: this.block.residual }, x.buffer);
    return { out: { buffer: y, shape: this.outShape(choice, x.shape) }, layer };
  }

  outShape(choice: BlockChoice, input: ActivationShape): ActivationShape {
    return denseDescriptor.outShape(this.block, choice, input);
  }

  countParams(choice: BlockChoice, input: ActivationShape): number {
    return input.width * choice.width! + choice.width!;
  }

  countFlops(choice: BlockChoice, input: ActivationShape): number {
    return 2 * input.width * choice.width! * input.length;
  }

  /** x · kernel + bias, the activation, inside a residual op where the input width equals the chosen width. */
  lower(choice: BlockChoice, input: ActivationShape, subnet?: SubnetContext): SubnetOp[] {
    const d = input.width;
    const w = choice.width!;
    const { kernel, bias } = this.hostWeights(d, w, subnet);
    const body: SubnetOp[] = [
      { op: 'dense', name: this.name, weights: denseOf(kernel, bias) },
      { op: 'activation', name: `${this.name}.act`, fn: this.block.activation },
    ];
    // The `bits` choice: the kernel as per-channel codes and steps (what the fake-quantised forward computes).
    return quantizeBlockOps(this.block.residual && d === w ? [{ op: 'residual', name: `${this.name}.residual`, body }] : body, choice.bits);
  }

  /** The exported kernel [d, w] and bias [w]: slices, or Mixture-of-Supernets' Σ α_k(a) W_k for this subnet's a. */
  private hostWeights(d: number, w: number, subnet: SubnetContext | undefined) {
    const slices = (k: tf.Variable, b: tf.Variable) => ({ kernel: weightArray(k, [0, 0], [d, w]), bias: weightArray(b, [0], [w]) });
    if (!this.mixture) return slices(this.kernel, this.bias);
    if (!subnet) throw new Error(`${this.name}: Mixture-of-Supernets weights need the subnet's architecture features (lower it through the supernet)`);
    const alpha = this.mixture.router.alphaHost(subnet.archFeatures);
    const parts = this.mixture.kernels.map((k, i) => slices(k, this.mixture!.biases[i]!));
    return { kernel: mixHost(alpha, parts.map((p) => p.kernel)), bias: mixHost(alpha, parts.map((p) => p.bias)) };
  }

  /** Mixture-of-Supernets' α(a) of this block for architecture features a (the view's architecture feature × mixing weight), or null. */
  mixingWeights(archFeatures: readonly number[]): number[] | null {
    return this.mixture ? this.mixture.router.alphaHost(archFeatures) : null;
  }
}

export const dense: ElasticBlock<DenseBlock> = {
  type: 'dense',
  create: (build) => new DenseInstance(build),
  channels: {
    inputKernel: (id) => ({ name: `${id}.dense.kernel`, axis: 0 }),
    outputs: (id) => [
      { name: `${id}.dense.kernel`, axis: 1 },
      { name: `${id}.dense.bias`, axis: 0 },
    ],
    residual: (b) => b.residual,
  },
};
