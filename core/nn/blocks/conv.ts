/**
 * The conv block (core/space/blocks/conv.ts): a 'same' conv at chosen channels c and kernel k (the centre
 * k×k of the largest kernel, Once-for-All elastic kernel, Cai et al., 2020), stride 1 or 2, then BatchNorm
 * (batch statistics while training, running ones at inference) or a bias, then the activation.
 * Running statistics of a supernet mix every subnet, so a subnet is evaluated after recalibration
 * (`recalibrate`, fed by a calibration pass of core/nn/Supernet.ts recalibrateBatchNorm), as OFA does.
 * Variables "<name>.conv.kernel" [kMax, kMax, inMax, cMax] (HWIO), "<name>.conv.bias" or
 * "<name>.bn.gamma|beta|mean|variance" (mean and variance non-trainable).
 *
 * With `kernelTransform` (OFA's elastic kernel, mit-han-lab/once-for-all dynamic_modules.py
 * `DynamicSeparableConv2d.get_active_filter`): going from kernel size K to the next smaller k, the k×k centre of
 * the K kernel is multiplied, per (input, output) channel pair, by a learnt k²×k² matrix
 * "<name>.conv.ktrans<K>to<k>" (initialised to the identity, shared by all channels), and so on down to the
 * chosen size; export and search read the same transformed kernel.
 */
import * as tf from '@tensorflow/tfjs';
import type { BlockChoice, ConvBlock } from '../../space/SearchSpace.js';
import { activate } from '../activations.js';
import { conv2dSame } from '../conv.js';
import type { ForwardContext } from '../forwardContext.js';
import type { SubnetOp } from '../graph/ops.js';
import { glorotUniform } from '../init.js';
import { weightArray } from '../moe/MoELayer.js';
import { batchNormFusedSupported, batchNormTrainFused, updateRunningStat } from '../webgpu/batchNormFused.js';
import { conv2dSameWebgpu, convFastSupported } from '../webgpu/convFilterGrad.js';
import type { Act, CompiledForward, StepCompiler } from '../webgpu/step/compiler.js';
import { compileConv, convNotCompiled } from '../webgpu/step/convStep.js';
import type { ActivationShape, BlockBuild, BlockInstance, ElasticBlock } from './block.js';
import { conv as convDescriptor } from '../../space/blocks/conv.js';

/** BatchNorm epsilon (Keras' default). */
export const BN_EPSILON = 1e-3;
/** Running statistics: new = momentum · old + (1 − momentum) · batch. */
export const BN_MOMENTUM = 0.9;

interface BatchNormVars {
  gamma: tf.Variable;
  beta: tf.Variable;
  mean: tf.Variable;
  variance: tf.Variable;
}

/** Replace the first rows of v by `head` (the channels a subnet uses), keeping the rest. */
function assignHead(v: tf.Variable, head: tf.Tensor): void {
  const c = head.shape[0]!;
  v.assign(v.shape[0]! > c ? tf.concat([head, v.slice(c)]) : head);
}

class ConvInstance implements BlockInstance {
  readonly type = 'conv';
  readonly name: string;
  private readonly block: ConvBlock;
  private readonly kMax: number;
  private readonly kernel: tf.Variable;
  private readonly bias: tf.Variable | null;
  private readonly bn: BatchNormVars | null;
  /** Kernel sizes largest first and, per step down to the next, its k²×k² transformation (kernelTransform). */
  private readonly transforms: { from: number; to: number; matrix: tf.Variable }[] = [];

  constructor({ name, block, inMax, store, rng }: BlockBuild<ConvBlock>) {
    this.name = name;
    this.block = block;
    const c = Math.max(...block.channels);
    const k = (this.kMax = Math.max(...block.kernel));
    this.kernel = store.add(`${name}.conv.kernel`, glorotUniform(rng, [k, k, inMax, c], k * k * inMax, k * k * c));
    this.bias = block.batchNorm ? null : store.add(`${name}.conv.bias`, tf.zeros([c]));
    this.bn = block.batchNorm
      ? {
          gamma: store.add(`${name}.bn.gamma`, tf.ones([c])),
          beta: store.add(`${name}.bn.beta`, tf.zeros([c])),
          mean: store.add(`${name}.bn.mean`, tf.zeros([c]), false),
          variance: store.add(`${name}.bn.variance`, tf.ones([c]), false),
        }
      : null;
    if (block.kernelTransform) {
      const sizes = [...new Set(block.kernel)].sort((a, b) => b - a);
      for (let i = 1; i < sizes.length; i++) {
        const [from, to] = [sizes[i - 1]!, sizes[i]!];
        this.transforms.push({ from, to, matrix: store.add(`${name}.conv.ktrans${from}to${to}`, tf.eye(to * to)) });
      }
    }
  }

  /** The kernel a choice convolves with: the centre crop, through the transformation chain when enabled. */
  private activeKernel(kernel: number, cin: number, channels: number): tf.Tensor4D {
    if (this.transforms.length === 0 || kernel === this.kMax) {
      const off = (this.kMax - kernel) / 2;
      return this.kernel.slice([off, off, 0, 0], [kernel, kernel, cin, channels]) as tf.Tensor4D;
    }
    let k = this.kernel.slice([0, 0, 0, 0], [this.kMax, this.kMax, cin, channels]) as tf.Tensor4D;
    for (const t of this.transforms) {
      if (t.from <= kernel) break;
      const off = (t.from - t.to) / 2;
      const centre = k.slice([off, off, 0, 0], [t.to, t.to, cin, channels]);
      // HWIO flattened to [k², cin·cout]: each channel pair's k² taps multiplied by the matrix (F.linear in OFA).
      k = tf.reshape(tf.matMul(t.matrix, tf.reshape(centre, [t.to * t.to, cin * channels]), false, false), [t.to, t.to, cin, channels]) as tf.Tensor4D;
    }
    return k;
  }

  apply(x: tf.Tensor, choice: BlockChoice, ctx: ForwardContext): tf.Tensor {
    const h = x as tf.Tensor4D;
    const channels = choice.channels!;
    const kernel = choice.kernel!;
    const cin = h.shape[3];
    const k = this.activeKernel(kernel, cin, channels);
    // WebGPU: tfjs' Conv2DBackpropFilter is replaced by an im2col matmul (core/nn/webgpu/convFilterGrad.ts).
    let y = convFastSupported() ? conv2dSameWebgpu(h, k, this.block.stride) : conv2dSame(h, k, this.block.stride);
    if (this.bias) y = tf.add(y, this.bias.slice(0, channels));
    const bn = this.bn;
    if (bn && ctx.training && !ctx.calibration && batchNormFusedSupported()) {
      // WebGPU: batch statistics, normalisation, its gradient and the running-statistics update as a few
      // kernels reading γ, β in place (core/nn/webgpu/batchNormFused.ts); same function as below.
      const out = batchNormTrainFused(y as tf.Tensor4D, bn.gamma as tf.Tensor1D, bn.beta as tf.Tensor1D, BN_EPSILON);
      // Assignments are not recorded on the gradient tape, so the statistics need no detaching.
      tf.tidy(() => {
        updateRunningStat(bn.mean, out.stats, 0, BN_MOMENTUM);
        updateRunningStat(bn.variance, out.stats, 1, BN_MOMENTUM);
      });
      y = out.y;
    } else if (bn) {
      const gamma = bn.gamma.slice(0, channels) as tf.Tensor1D;
      const beta = bn.beta.slice(0, channels) as tf.Tensor1D;
      if (ctx.training || ctx.calibration) {
        // Batch statistics from primitive ops: tfjs' fused batchNorm / moments gradients fail on wasm.
        const mean = tf.mean(y, [0, 1, 2]) as tf.Tensor1D;
        const centred = tf.sub(y, mean);
        const variance = tf.mean(tf.square(centred), [0, 1, 2]) as tf.Tensor1D;
        if (ctx.calibration) {
          let entry = ctx.calibration.get(this.name);
          if (!entry) ctx.calibration.set(this.name, (entry = []));
          entry.push([tf.keep(mean), tf.keep(variance)]);
        } else {
          tf.tidy(() => {
            const upd = (v: tf.Variable, batch: tf.Tensor) => assignHead(v, tf.add(tf.mul(BN_MOMENTUM, v.slice(0, channels)), tf.mul(1 - BN_MOMENTUM, batch)));
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
    return activate(y, this.block.activation);
  }

  /**
   * The compiled step (core/nn/webgpu/step/convStep.ts): `apply` with training: true (batch statistics,
   * running statistics updated), the kernel as `activeKernel` makes it (centre crop, transformation chain).
   */
  compile(choice: BlockChoice, x: Act, c: StepCompiler): CompiledForward | string {
    const kernel = choice.kernel!;
    if (x.shape.layout !== 'image') return `${this.name}: a ${x.shape.layout} input is not compiled`;
    const bn = this.bn ? { ...this.bn, epsilon: BN_EPSILON, momentum: BN_MOMENTUM } : null;
    const [h, w] = x.shape.spatial;
    const spec = { name: this.name, kernel: this.kernel, bias: this.bias, bn, h, w, cin: x.shape.width, c: choice.channels!, k: kernel, stride: this.block.stride, act: this.block.activation, transforms: this.transforms.filter((t) => t.from > kernel) };
    const why = convNotCompiled(spec, c.batch);
    if (why) return why;
    const r = compileConv(c, spec, x.buffer);
    return { out: { buffer: r.y, shape: this.outShape(choice, x.shape) }, layer: r.layer };
  }

  /** Running statistics := the mean of the per-batch means and variances (OFA, Cai et al., 2020, §3.3). */
  recalibrate(batches: readonly tf.Tensor[][]): void {
    const bn = this.bn;
    if (!bn || batches.length === 0) return;
    tf.tidy(() => {
      assignHead(bn.mean, tf.mean(tf.stack(batches.map((b) => b[0]!)), 0));
      assignHead(bn.variance, tf.mean(tf.stack(batches.map((b) => b[1]!)), 0));
    });
  }

  outShape(choice: BlockChoice, input: ActivationShape): ActivationShape {
    return convDescriptor.outShape(this.block, choice, input);
  }

  countParams(choice: BlockChoice, input: ActivationShape): number {
    return choice.kernel! * choice.kernel! * input.width * choice.channels! + (this.bn ? 4 : 1) * choice.channels!;
  }

  countFlops(choice: BlockChoice, input: ActivationShape): number {
    const [h, w] = this.outShape(choice, input).spatial;
    return 2 * choice.kernel! * choice.kernel! * input.width * choice.channels! * h * w;
  }

  /** conv2d ('same', HWIO, the kernel's centre k×k or its transformed kernel), then BatchNorm (running statistics) or the bias, then the activation. */
  lower(choice: BlockChoice, input: ActivationShape): SubnetOp[] {
    const k = choice.kernel!;
    const off = (this.kMax - k) / 2;
    const ch = choice.channels!;
    const kernel = this.transforms.length === 0 ? weightArray(this.kernel, [off, off, 0, 0], [k, k, input.width, ch]) : transformedArray(() => this.activeKernel(k, input.width, ch));
    const ops: SubnetOp[] = [
      { op: 'conv2d', name: this.name, kernel: kernel.data, kernelSize: k, inChannels: input.width, outChannels: ch, stride: this.block.stride, bias: this.bias ? weightArray(this.bias, [0], [ch]).data : null },
    ];
    const bn = this.bn;
    if (bn) {
      const [gamma, beta, mean, variance] = [bn.gamma, bn.beta, bn.mean, bn.variance].map((v) => weightArray(v, [0], [ch]).data) as [Float32Array, Float32Array, Float32Array, Float32Array];
      ops.push({ op: 'batchNorm', name: `${this.name}.bn`, channels: ch, gamma, beta, mean, variance, epsilon: BN_EPSILON });
    }
    ops.push({ op: 'activation', name: `${this.name}.act`, fn: this.block.activation });
    return ops;
  }
}

/** A computed kernel as a plain array (the transformed kernel has no variable to slice). */
function transformedArray(make: () => tf.Tensor4D): ReturnType<typeof weightArray> {
  const t = tf.tidy(make);
  try {
    return weightArray(t, [0, 0, 0, 0], t.shape.slice());
  } finally {
    t.dispose();
  }
}

export const conv: ElasticBlock<ConvBlock> = {
  type: 'conv',
  create: (build) => new ConvInstance(build),
  channels: {
    // HWIO kernel: input channels on axis 2, outputs on 3; bias or BatchNorm per output channel.
    inputKernel: (id) => ({ name: `${id}.conv.kernel`, axis: 2 }),
    outputs: (id) => [{ name: `${id}.conv.kernel`, axis: 3 }, { name: `${id}.conv.bias`, axis: 0 }, ...['gamma', 'beta', 'mean', 'variance'].map((k) => ({ name: `${id}.bn.${k}`, axis: 0 }))],
    residual: () => false,
  },
};
