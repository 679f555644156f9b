/**
 * The MoE block (core/space/blocks/moe.ts): core/nn/moe/MoELayer.ts at the chosen expert hidden width, over
 * the tokens — the rows of a vector batch, or every token of a sequence ([B, T, d] routed as B·T tokens).
 * It keeps its input width; its report and weighted aux losses go to the per-forward context, and the
 * context's router logits / state map carry MoE++ gating residuals and recurrent router state across layers.
 */
import type * as tf from '@tensorflow/tfjs';
import type { BlockChoice, MoEBlock } from '../../space/SearchSpace.js';
import type { ForwardContext } from '../forwardContext.js';
import { quantizeBlockOps } from '../graph/quantize.js';
import { MoELayer } from '../moe/MoELayer.js';
import type { Act, CompiledForward, StepCompiler } from '../webgpu/step/compiler.js';
import { compileMoEBlock } from '../webgpu/step/moeStep.js';
import type { ActivationShape, BlockBuild, BlockInstance, ElasticBlock } from './block.js';
import { onRows } from './shapes.js';

class MoEInstance implements BlockInstance {
  readonly type = 'moe';
  readonly name: string;
  readonly moe: MoELayer;

  constructor({ name, block, inMax, store, rng }: BlockBuild<MoEBlock>) {
    this.name = name;
    this.moe = new MoELayer(name, block, inMax, store, rng);
  }

  apply(x: tf.Tensor, choice: BlockChoice, ctx: ForwardContext): tf.Tensor {
    return onRows(x, (rows) => {
      const bits = choice.bits !== undefined && choice.bits < 32 ? { bits: choice.bits } : {};
      // PR-MoE's expert-count choice (the block's `expertCounts`): the first E' experts and router columns.
      const experts = choice.experts !== undefined ? { experts: choice.experts } : {};
      const { y, report, reports } = this.moe.apply(rows, choice.expertHidden!, { training: ctx.training, progress: ctx.progress, ...bits, ...experts }, ctx);
      // One report per Chain-of-Experts pass (one for a plain layer).
      ctx.reports.push(...reports);
      // Balance, z- and the router's own losses, each with its weight (core/nn/routers/router.ts route; every pass's on `report`).
      ctx.losses.push(...(report.losses ?? []));
      return y;
    });
  }

  /** The compiled step of a plain top-k block (core/nn/webgpu/step/moeStep.ts); a string names what is not compiled. */
  compile(choice: BlockChoice, x: Act, c: StepCompiler): CompiledForward | string {
    return compileMoEBlock(this.moe, choice, x, c);
  }

  outShape(_choice: BlockChoice, input: ActivationShape): ActivationShape {
    return input;
  }

  countParams(choice: BlockChoice, input: ActivationShape): number {
    return this.moe.countParams(input.width, choice.expertHidden!, choice.experts);
  }

  countFlops(choice: BlockChoice, input: ActivationShape): number {
    return this.moe.countFlops(input.width, choice.expertHidden!, choice.experts) * input.length;
  }

  lower(choice: BlockChoice, input: ActivationShape) {
    // The `bits` choice: routed and shared experts' kernels as per-channel codes and steps (the fake-quantised forward's).
    return quantizeBlockOps(this.moe.lower(input.width, choice.expertHidden!, choice.experts), choice.bits);
  }
}

export const moe: ElasticBlock<MoEBlock> = {
  type: 'moe',
  create: (build) => new MoEInstance(build),
};
