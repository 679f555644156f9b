/**
 * The dense block (core/space/blocks/dense.ts): y = act(x·W[:d, :w] + b[:w]) at chosen width w, plus x
 * where `residual` is set and the input width equals w (OFA keeps shortcuts only where shapes match). On a
 * sequence it acts on every token. Variables "<name>.dense.kernel" [inMax, wMax] and "<name>.dense.bias".
 */
import * as tf from '@tensorflow/tfjs';
import type { BlockChoice, DenseBlock } from '../../space/SearchSpace.js';
import { activate } from '../activations.js';
import { layerOps } from '../graph/fromLayers.js';
import { maybeFakeQuant } from '../fakeQuant.js';
import { quantizeBlockOps } from '../graph/quantize.js';
import { glorotUniform } from '../init.js';
import { weightArray } from '../moe/MoELayer.js';
import type { SubnetLayer } from '../subnetLayers.js';
import { denseFused, denseFusedSupported } from '../webgpu/denseFused.js';
import type { ActivationShape, BlockBuild, BlockInstance, ElasticBlock } from './block.js';
import { onRows } from './shapes.js';
import { dense as denseDescriptor } from '../../space/blocks/dense.js';

class DenseInstance implements BlockInstance {
  readonly type = 'dense';
  readonly name: string;
  private readonly block: DenseBlock;
  private readonly kernel: tf.Variable;
  private readonly bias: tf.Variable;

  constructor({ name, block, inMax, store, rng }: BlockBuild<DenseBlock>) {
    this.name = name;
    this.block = block;
    const w = Math.max(...block.width);
    this.kernel = store.add(`${name}.dense.kernel`, glorotUniform(rng, [inMax, w], inMax, w));
    this.bias = store.add(`${name}.dense.bias`, tf.zeros([w]));
  }

  apply(x: tf.Tensor, choice: BlockChoice): tf.Tensor {
    const width = choice.width!;
    const act = this.block.activation;
    const bits = choice.bits !== undefined && choice.bits < 32 ? choice.bits : undefined;
    return onRows(x, (h) => {
      const d = h.shape[1];
      // WebGPU: one fused kernel per dense product (core/nn/webgpu/denseFused.ts); elsewhere plain ops. A
      // `bits` choice fake-quantises the sliced kernel (straight-through gradient, core/nn/fakeQuant.ts).
      const y = bits === undefined && denseFusedSupported(act)
        ? denseFused(h, this.kernel as tf.Tensor2D, this.bias as tf.Tensor1D, width, act)
        : (activate(tf.add(tf.matMul(h, maybeFakeQuant(this.kernel.slice([0, 0], [d, width]), bits)), this.bias.slice(0, width)), act) as tf.Tensor2D);
      return this.block.residual && d === width ? tf.add(h, y) : y;
    });
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

  /** The concrete layer (core/nn/subnetLayers.ts format; transitional, see ../graph/fromLayers.ts). */
  subnetLayers(choice: BlockChoice, input: ActivationShape): SubnetLayer[] {
    const d = input.width;
    const w = choice.width!;
    return [
      {
        kind: 'dense',
        name: this.name,
        activation: this.block.activation,
        kernel: weightArray(this.kernel, [0, 0], [d, w]),
        bias: weightArray(this.bias, [0], [w]),
        residual: this.block.residual && d === w,
      },
    ];
  }

  lower(choice: BlockChoice, input: ActivationShape) {
    // The `bits` choice: the kernel as per-channel codes and steps (what the fake-quantised forward computes).
    return quantizeBlockOps(this.subnetLayers(choice, input).flatMap(layerOps), choice.bits);
  }
}

export const dense: ElasticBlock<DenseBlock> = {
  type: 'dense',
  create: (build) => new DenseInstance(build),
};
