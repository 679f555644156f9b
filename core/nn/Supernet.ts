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
 * - Each block position is an instance of its type's ElasticBlock (core/nn/blocks/registry.ts), which owns its
 *   variables, forward, params, FLOPs and lowering; this file composes them and never switches on a type.
 *
 * Variable names: "<stage>.b<j>.dense.kernel|bias", "<stage>.b<j>.conv.kernel|bias",
 * "<stage>.b<j>.bn.gamma|beta|mean|variance", "<stage>.b<j>.moe.router", "<stage>.b<j>.moe.e<i>.w1|b1|w2|b2",
 * "<stage>.b<j>.moe.shared<i>.…", "<stage>.b<j>.moe.const", "head.kernel|bias".
 */
import * as tf from '@tensorflow/tfjs';
import { validateArch } from '../space/archCodec.js';
import { archFeatureLabels, archFeatures } from '../space/archFeatures.js';
import { describeBlock } from '../space/blocks/registry.js';
import { planSpace, type SpacePlan } from '../space/planSpace.js';
import { createRng, type Rng } from '../space/rng.js';
import type { Arch, BlockChoice, SearchSpace } from '../space/SearchSpace.js';
import type { ActivationShape, BlockInstance, SubnetContext, TensorLayout } from './blocks/block.js';
import { elasticBlockOf } from './blocks/registry.js';
import { convertBatch, inputShape, toLayout } from './blocks/shapes.js';
import { newForwardContext } from './forwardContext.js';
import type { SubnetGraph, SubnetOp } from './graph/ops.js';
import { denseOf } from './graph/weights.js';
import { glorotUniform, VariableStore } from './init.js';
import { weightArray, type MoELayer } from './moe/MoELayer.js';
import type { ForwardOptions, ForwardResult, Supernet } from './types.js';
import { denseFused, denseFusedSupported } from './webgpu/denseFused.js';
import type { Act, CompiledLayer, StepCompiler } from './webgpu/step/compiler.js';
import { compileConversion } from './webgpu/step/convert.js';
import { compileDense } from './webgpu/step/denseStep.js';

export { BN_EPSILON, BN_MOMENTUM } from './blocks/conv.js';

export interface SupernetOptions {
  seed?: number;
}

const maxOf = (xs: readonly number[]) => Math.max(...xs);

export class ElasticSupernet implements Supernet {
  readonly plan: SpacePlan;
  /** blocks[stage][block]: one instance per block position (core/nn/blocks/registry.ts). */
  readonly blocks: BlockInstance[][];
  private readonly store = new VariableStore();
  private readonly head: { kernel: tf.Variable; bias: tf.Variable };
  /** Set during a BatchNorm recalibration pass (`collectBatchNormStats`). */
  private calibration: Map<string, tf.Tensor[][]> | null = null;

  constructor(
    readonly space: SearchSpace,
    opts: SupernetOptions = {},
  ) {
    const rng: Rng = createRng(opts.seed ?? 1);
    this.plan = planSpace(space);
    const archFeatureCount = archFeatureLabels(space).length;
    this.blocks = space.stages.map((stage, i) => {
      const elastic = elasticBlockOf(stage.block);
      const out: BlockInstance[] = [];
      // The largest width that can reach block j: the stage's input for j = 0, then what block j − 1 can output.
      let inW = new Set(this.plan.stages[i]!.inWidths);
      for (let j = 0; j < maxOf(stage.depth); j++) {
        out.push(elastic.create({ name: `${stage.id}.b${j}`, block: stage.block, inMax: maxOf([...inW]), store: this.store, rng, archFeatures: archFeatureCount }));
        inW = describeBlock(stage.block).outWidths(stage.block, inW);
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

  /** A token input (text, sequence tasks): the head predicts every position. */
  get perToken(): boolean {
    return this.space.input.kind === 'tokens';
  }

  private checkArch(arch: Arch): void {
    const issues = validateArch(this.space, arch);
    if (issues.length > 0) {
      const first = issues[0]!;
      throw new Error(`arch is not a subnet of "${this.space.name}": ${first.path}: ${first.message}${issues.length > 1 ? ` (and ${issues.length - 1} more)` : ''}`);
    }
  }

  /** The layout conversion before a stage (or the head, which reads vectors); throws where none applies. */
  private convert(shape: ActivationShape, reads: readonly TensorLayout[], where: string) {
    const c = toLayout(shape, reads, this.plan.hasConv);
    if (!c) throw new Error(`${where} reads ${reads.join(' or ')}, but a ${shape.layout} reaches it`);
    return c;
  }

  /**
   * Walk the subnet's kept, non-identity blocks in forward order with their per-sample input shape,
   * the layout conversions between them (`convert`) and the head's input shape.
   */
  private walk(
    arch: Arch,
    visit: (block: BlockInstance, choice: BlockChoice, input: ActivationShape) => void,
    convert?: (how: 'gap' | 'flatten' | 'tokenMean', where: string) => void,
  ): { headIn: ActivationShape } {
    this.checkArch(arch);
    let shape = inputShape(this.space.input);
    // A conversion runs just before the next block that computes (identity blocks pass any layout through),
    // named after it: "<block>.pool", or "head.pool".
    let pending: 'gap' | 'flatten' | 'tokenMean' | null = null;
    const flush = (where: string) => {
      if (pending) convert?.(pending, where);
      pending = null;
    };
    this.space.stages.forEach((stage, i) => {
      const c = this.convert(shape, describeBlock(stage.block).reads, `stage ${stage.id}`);
      shape = c.shape;
      if (c.how !== 'none') pending = c.how;
      const sa = arch.stages[i]!;
      for (let j = 0; j < sa.depth; j++) {
        const choice = sa.blocks[j]!;
        if (choice.op === 'identity') continue;
        const block = this.blocks[i]![j]!;
        flush(`${block.name}.pool`);
        visit(block, choice, shape);
        shape = block.outShape(choice, shape);
      }
    });
    // A token input's head predicts every position (next-token logits); any other input gets one prediction per sample.
    const c = this.convert(shape, this.perToken ? ['sequence'] : ['vector'], 'the head');
    if (c.how !== 'none') pending = c.how;
    flush('head.pool');
    return { headIn: c.shape };
  }

  apply(x: tf.Tensor, arch: Arch, opts: ForwardOptions): ForwardResult {
    // One context per pass, threaded through the blocks in forward order (MoE++ gating residuals, router state).
    const ctx = newForwardContext({ training: opts.training, progress: opts.progress, calibration: this.calibration, archFeatures: archFeatures(this.space, arch) });
    let h = x;
    const { headIn } = this.walk(
      arch,
      (block, choice) => void (h = block.apply(h, choice, ctx)),
      (how) => void (h = convertBatch(h, how)),
    );
    let aux: tf.Scalar = tf.scalar(0);
    for (const l of ctx.losses) aux = tf.add(aux, tf.mul(l.weight, l.value));
    const d = headIn.width;
    // Per-token head: the [B, T, d] sequence as B·T rows, logits [B·T, classes] in the targets' row-major order.
    const v = (this.perToken ? tf.reshape(h, [-1, d]) : h) as tf.Tensor2D;
    // WebGPU: one fused kernel per dense product (core/nn/webgpu/denseFused.ts); elsewhere plain ops.
    const logits = denseFusedSupported('linear')
      ? denseFused(v, this.head.kernel as tf.Tensor2D, this.head.bias as tf.Tensor1D, this.space.numClasses, 'linear')
      : (tf.add(tf.matMul(v, this.head.kernel.slice([0, 0], [d, this.space.numClasses])), this.head.bias) as tf.Tensor2D);
    return { logits, auxLoss: aux, moe: ctx.reports };
  }

  /**
   * Record the compiled WebGPU training step of `arch` (core/nn/webgpu/step/, issue 18) on the batch in
   * `input`: each block's `compile`, the layout conversions and the head, in forward order. A string says
   * which part is not compiled (the trainer then runs the step through tfjs ops).
   */
  compileStep(arch: Arch, c: StepCompiler, input: GPUBuffer): { logits: GPUBuffer; rows: number; layers: CompiledLayer[] } | string {
    let act: Act = { buffer: input, shape: inputShape(this.space.input) };
    const layers: CompiledLayer[] = [];
    let why: string | null = null;
    const take = (r: { out: Act; layer: CompiledLayer } | string) => {
      if (typeof r === 'string') why = r;
      else {
        act = r.out;
        layers.push(r.layer);
      }
    };
    const { headIn } = this.walk(
      arch,
      (block, choice) => {
        if (why !== null) return;
        take(block.compile ? block.compile(choice, act, c) : `${block.name}: ${block.type} blocks are not compiled`);
      },
      (how, where) => {
        if (why === null) take(compileConversion(how, act, c, where));
      },
    );
    if (why !== null) return why;
    const rows = c.batch * (this.perToken ? headIn.length : 1);
    const head = compileDense(c, { name: 'head', kernel: this.head.kernel, bias: this.head.bias, rows, d: headIn.width, w: this.space.numClasses, act: 'linear', residual: false }, act.buffer);
    layers.push(head.layer);
    return { logits: head.y, rows, layers };
  }

  trainableVariables(): tf.Variable[] {
    return this.store.trainable();
  }

  namedVariables(): Map<string, tf.Variable> {
    return this.store.named();
  }

  /** The MoE layers in forward order (for reports and tests). */
  moeLayers(): MoELayer[] {
    return this.blocks.flat().flatMap((b) => (b.moe ? [b.moe] : []));
  }

  countParams(arch: Arch): number {
    let total = 0;
    const { headIn } = this.walk(arch, (block, c, input) => void (total += block.countParams(c, input)));
    return total + headIn.width * this.space.numClasses + this.space.numClasses;
  }

  countFlops(arch: Arch): number {
    let total = 0;
    const { headIn } = this.walk(arch, (block, c, input) => void (total += block.countFlops(c, input)));
    return total + 2 * headIn.width * this.space.numClasses * (this.perToken ? headIn.length : 1);
  }

  /** The subnet as a subnet graph (core/nn/graph/ops.ts): each block's lowering, weights sliced out. */
  subnetGraph(arch: Arch): SubnetGraph {
    const ops: SubnetOp[] = [];
    const subnet: SubnetContext = { archFeatures: archFeatures(this.space, arch) };
    const { headIn } = this.walk(
      arch,
      (block, c, input) => void ops.push(...block.lower(c, input, subnet)),
      (how, name) => {
        ops.push({ op: how === 'gap' ? 'globalAvgPool' : how, name });
      },
    );
    const n = this.space.numClasses;
    ops.push({ op: 'dense', name: 'head', weights: denseOf(weightArray(this.head.kernel, [0, 0], [headIn.width, n]), weightArray(this.head.bias, [0], [n])) });
    return { input: this.space.input, numClasses: n, ops };
  }

  /**
   * Run batches through the subnet in a calibration pass: blocks with running statistics use and collect
   * their batch statistics (no running-stat updates), then set their running statistics from them.
   */
  recalibrate(arch: Arch, batches: readonly tf.Tensor[]): void {
    this.calibration = new Map();
    const stats = this.calibration;
    try {
      for (const b of batches) tf.tidy(() => void this.apply(b, arch, { training: false }));
    } finally {
      this.calibration = null;
    }
    for (const block of this.blocks.flat()) {
      const s = stats.get(block.name);
      if (s && block.recalibrate) block.recalibrate(s);
    }
    for (const s of stats.values()) tf.dispose(s.flat());
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
  net.recalibrate(arch, batches);
}

/**
 * The subnet as a subnet graph (core/nn/graph/ops.ts), weights sliced out of the supernet that holds them:
 * the one subnet format evaluation, compression and export read.
 */
export function subnetGraph(outer: Supernet, arch: Arch): SubnetGraph {
  const net = outer.resolve?.(arch) ?? outer;
  if (!(net instanceof ElasticSupernet)) throw new Error('subnetGraph needs a supernet from buildSupernet');
  return net.subnetGraph(arch);
}
