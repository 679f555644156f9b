/**
 * The ElasticBlock contract (issue 10): one module per block type (./dense.ts, ./conv.ts, ./moe.ts, …),
 * registered by type in ./registry.ts. Each elastic block owns its variables, its forward at the chosen
 * setting and its lowering to the subnet graph, as Once-for-All's dynamic layers own their forward and
 * `get_active_subnet` (mit-han-lab/once-for-all, elastic_nn/modules/dynamic_layers.py); the supernet
 * (core/nn/Supernet.ts) composes instances and never switches on a block's type.
 *
 * A block type has two halves, tied by type:
 * - its document on the space floor, core/space/blocks/<type>.ts (BlockDescriptor: zod schema with
 *   defaults, the tensor layouts it reads, its choice dimensions for the arch codec and editor, its possible
 *   output widths for planSpace), listed in core/space/blocks/registry.ts;
 * - its tf half here: `create` allocates the variables of one block position at the largest widths that can
 *   reach it and returns a BlockInstance that runs any choice of that position.
 *
 * To add a block type (say `attention`, sequence-shaped):
 * 1. core/space/blocks/attention.ts: `AttentionBlock` (z.object({ type: z.literal('attention'), … }).strict())
 *    and its descriptor (`reads: ['sequence']`, ops, dims, outWidths); add it to the union and the record of
 *    core/space/blocks/registry.ts (the `Block` type grows, so step 2 becomes a type error until done).
 * 2. core/nn/blocks/attention.ts: `export const attention: ElasticBlock<AttentionBlock> = { type, create }`;
 *    one line in ./registry.ts.
 * 3. If it lowers to an op the subnet graph lacks, add the op to core/nn/graph/ops.ts (and its evaluation).
 *
 * Conventions every block follows:
 * - Shapes. `x` is [B, d] (layout 'vector'), NHWC [B, H, W, C] ('image') or [B, T, d] ('sequence'); the
 *   supernet hands a block only a layout its descriptor `reads` (images become vectors by global average
 *   pooling or flattening, core/space/planSpace.ts). `ActivationShape` is the per-sample shape a block is
 *   given for params / FLOPs / lowering; `outShape` says what it passes on.
 * - Variables are named "<block name>.<type>.<part>" (e.g. "s1.b0.dense.kernel") in the supernet's
 *   VariableStore: checkpoints and exports see these names, so never rename one; a variable added later
 *   draws from `rng` only when its option is on, so older spaces keep their weights.
 * - Elastic choices read slices of the largest variables (the first w units, the centre k×k), so every
 *   subnet's weights are the supernet's; the path optimizer updates only elements a step's gradient reaches.
 * - `apply` reads and writes the shared per-forward context (../forwardContext.ts): training flag, progress,
 *   cross-layer state keyed per module, MoE reports and weighted aux losses it pushes, and the calibration
 *   collector of a BatchNorm recalibration pass.
 * - An `identity` op (choice.op === 'identity') skips the block; the supernet handles it, never the block.
 * - `lower` emits graph ops (core/nn/graph/ops.ts) whose evaluation equals `apply` at inference: the test
 *   of a block checks `apply` against the evaluated lowering and `countParams` against the graph's params.
 */
import type * as tf from '@tensorflow/tfjs';
import type { Rng } from '../../space/rng.js';
import type { SampleShape, TensorLayout } from '../../space/blocks/descriptor.js';
import type { Block, BlockChoice } from '../../space/SearchSpace.js';
import type { ForwardContext } from '../forwardContext.js';
import type { SubnetOp } from '../graph/ops.js';
import type { VariableStore } from '../init.js';
import type { MoELayer } from '../moe/MoELayer.js';
import type { Act, CompiledForward, StepCompiler } from '../webgpu/step/compiler.js';

export type { TensorLayout };

/** The per-sample shape flowing into (or out of) a block (core/space/blocks/descriptor.ts SampleShape). */
export type ActivationShape = SampleShape;

/** What `create` gets for one block position. */
export interface BlockBuild<B extends Block = Block> {
  /** Stable position name "<stage id>.b<j>": the prefix of the block's variable names. */
  name: string;
  /** The validated block document (defaults filled in). */
  block: B;
  /** Largest input width that can reach this position (core/space/planSpace.ts): variables are allocated at it. */
  inMax: number;
  store: VariableStore;
  /** The supernet's seeded stream: draw initial weights from it in a fixed order. */
  rng: Rng;
  /** Length of the space's architecture feature vector (core/space/archFeatures.ts; Mixture-of-Supernets' router input). */
  archFeatures?: number;
}

/** The subnet as a whole, for a block whose weights depend on it (Mixture-of-Supernets, ./archMixture.ts). */
export interface SubnetContext {
  /** The subnet's architecture features (core/space/archFeatures.ts). */
  archFeatures: readonly number[];
}

/** One block position of a supernet, able to run any of its choices. */
export interface BlockInstance {
  readonly name: string;
  readonly type: Block['type'];
  /** Forward x at `choice` (never an identity choice), reading / writing the per-forward context. */
  apply(x: tf.Tensor, choice: BlockChoice, ctx: ForwardContext): tf.Tensor;
  /** The per-sample shape this choice passes on. */
  outShape(choice: BlockChoice, input: ActivationShape): ActivationShape;
  /** Parameters an exported model of this choice holds here (what `lower`'s ops hold). */
  countParams(choice: BlockChoice, input: ActivationShape): number;
  /**
   * 2 × multiply-accumulates per sample that this choice runs (what a token actually runs: an MoE block reads
   * its measured routing; null / zero / copy experts cost nothing).
   */
  countFlops(choice: BlockChoice, input: ActivationShape): number;
  /** The choice as subnet-graph ops, weights sliced out (inference semantics, equal to `apply`). */
  lower(choice: BlockChoice, input: ActivationShape, subnet?: SubnetContext): SubnetOp[];
  /**
   * Blocks with running statistics (BatchNorm): set them from the batch statistics this block pushed into
   * `ctx.calibration` during a recalibration pass (one entry per batch, in push order). Only the channels
   * the statistics cover change.
   */
  recalibrate?(batches: readonly tf.Tensor[][]): void;
  /** The block's MoE layer, when it routes tokens (reports, dispatch mode, tests). */
  readonly moe?: MoELayer;
  /**
   * The compiled WebGPU training step of this choice (core/nn/webgpu/step/, issue 18): record the forward
   * on `x` (training semantics, as `apply` with training: true) and return its output and its backward; a
   * string says why this choice is not compiled (the step then runs through tfjs ops). Absent: never.
   */
  compile?(choice: BlockChoice, x: Act, c: StepCompiler): CompiledForward | string;
}

/** A variable of a block position (by its stable name) and the axis its channels lie on. */
export interface ChannelAxis {
  name: string;
  axis: number;
}

/**
 * How OFA's channel sorting (core/nn/channelSorting.ts) sees a block whose output channels are the stream
 * (dense, conv): the kernel that reads its input channels, every variable holding its output channels (its
 * kernel first; absent ones are skipped), and whether its output is added to its input (a residual), which
 * ties both to one order. Blocks without it (MoE, …) keep their streams' order.
 */
export interface ChannelLayout<B extends Block = Block> {
  inputKernel(id: string): ChannelAxis;
  outputs(id: string): ChannelAxis[];
  residual(block: B): boolean;
}

export interface ElasticBlock<B extends Block = Block> {
  type: B['type'];
  /** Allocate one block position's variables; the instance runs every choice of the position. */
  create(build: BlockBuild<B>): BlockInstance;
  /** Its channels for OFA's channel sorting; absent: its streams are left unsorted. */
  channels?: ChannelLayout<B>;
}
