/**
 * The schema half of the ElasticBlock contract (issue 10): what a block type is as a document — its zod
 * schema, the tensor layouts it reads, its choice dimensions (the arch codec's positions and the editor's
 * lists) and the widths it can output (planSpace). Pure zod, no tf, so core/space (floor 0) assembles the
 * SearchSpace's `Block` union from the descriptors in ./registry.ts. The tf half (variables, forward,
 * params, FLOPs, lowering to the subnet graph) is the ElasticBlock of the same type in
 * core/nn/blocks/registry.ts; its `Record<BlockType, ElasticBlock>` type makes a missing one a type error.
 *
 * Adding a block type (e.g. attention): core/space/blocks/attention.ts (schema + descriptor) and
 * core/nn/blocks/attention.ts (ElasticBlock), one line in each registry. If its choices need a field
 * BlockChoice does not have yet, add it to BlockChoice (core/space/SearchSpace.ts) — one line.
 */
import { z } from 'zod';

export const positiveInt = z.number().int().min(1);

/** A list of choices: at least one, all distinct, ascending order is not required. */
export const choices = (item: z.ZodNumber) =>
  z
    .array(item)
    .min(1, 'give at least one choice')
    .refine((xs) => new Set(xs).size === xs.length, 'choices must be distinct');

/**
 * Weight bit width choices of a block (bit width as a search dimension: SimQ-NAS, Sridhar et al. 2023; One
 * QuantLLM for All, Yi et al. 2024): 2–8 bits per-output-channel symmetric weights (fake-quantised with a
 * straight-through estimator while training, core/nn/fakeQuant.ts; Q/DQ in ONNX), 32 = float. Absent: float,
 * no choice.
 */
export const WeightBits = choices(
  z
    .number()
    .int()
    .refine((b) => (b >= 2 && b <= 8) || b === 32, 'bits must be 2 to 8, or 32 (float)'),
);

/** The `bits` choice dimension of a block that has one (after its other dimensions). */
export const bitsDims = (bits: readonly number[] | undefined): ChoiceDim[] => (bits ? [{ key: 'bits', values: bits, short: 'q' }] : []);

export const Activation = z.enum(['relu', 'gelu', 'tanh', 'sigmoid', 'linear']);
export type Activation = z.infer<typeof Activation>;

/**
 * How a sample flows between blocks: 'vector' [B, d]; 'image' NHWC [B, H, W, C] (width = C); 'sequence'
 * [B, T, d] (width = d, T tokens); 'tokens' [B, T] integer ids (width = the vocabulary), which only an
 * embedding reads. Between stages an image becomes a vector for a block that reads only
 * vectors (global average pooling when the space has a conv stage, else flattening: core/space/planSpace.ts).
 */
export type TensorLayout = 'vector' | 'image' | 'sequence' | 'tokens';

/** The per-sample shape flowing into (or out of) a block. */
export interface SampleShape {
  layout: TensorLayout;
  /** Last-axis width: units (vector), channels (image) or model width d (sequence). */
  width: number;
  /** [H, W] of an image; [1, 1] otherwise. */
  spatial: readonly [number, number];
  /** Tokens T of a sequence; 1 otherwise. */
  length: number;
}

/** One term of the activation-memory estimate (core/space/activationMemory.ts). */
export interface ActivationTerm {
  /** The config field that scales this term most, as a train-config path (e.g. `space.stages[1].block.experts`). */
  path: string;
  /** What the term is, for messages. */
  what: string;
  /** Forward elements (float32) of the term. */
  elements: number;
}

/** Where a block's activation terms are counted: the batch, its config path and its name in messages. */
export interface ActivationContext {
  batch: number;
  /** Train-config path of the block, e.g. `space.stages[1].block`. */
  at: string;
  /** The block position in messages, e.g. `stages[1].b0`. */
  where: string;
}

/** Tensors an activation adds (core/nn/activations.ts: exact GELU is x·0.5·(1 + erf(x/√2)), five ops). */
export function activationTensors(a: Activation): number {
  return a === 'linear' ? 0 : a === 'gelu' ? 5 : 1;
}

/** The choice fields a block type's choices may set (the numeric fields of BlockChoice). */
export type ChoiceKey = 'bits' | 'width' | 'channels' | 'kernel' | 'expertHidden' | 'experts' | 'heads' | 'mlpRatio';

/** A block's choice as the descriptors read it (SearchSpace's BlockChoice has this shape; no import: no cycle). */
export type Choice = { op?: string } & { [K in ChoiceKey]?: number };

/** One numeric choice dimension of a block: its BlockChoice field and the block's list of values. */
export interface ChoiceDim {
  key: ChoiceKey;
  values: readonly number[];
  /** The codec position's label after the block name (default `key`), e.g. "hidden" → "s1.b0.hidden". */
  label?: string;
  /** Its letter in describeArch's short text (default the key's first letter), e.g. "h" → "h128". */
  short?: string;
  /**
   * The Once-for-All elastic dimension it is (progressive shrinking's width or kernel phases,
   * core/train/strategies/ofa.ts); absent: OFA keeps it at its largest.
   */
  elastic?: 'width' | 'kernel';
}

export interface BlockDescriptor<B extends { type: string } = { type: string }> {
  type: B['type'];
  /** Short name for menus and summaries. */
  label: string;
  /** A strict zod object with `type: z.literal(type)` and its defaults. */
  schema: z.ZodType<B>;
  /** What the stage editor writes when the type is picked (renderer/src/space/spaceEdits.ts defaultBlock). */
  initial: { type: B['type'] } & Partial<B>;
  /**
   * One-line summary of a block as the user writes it (defaults may be missing), e.g. "dense · width 32/64";
   * the stage list appends the depth.
   */
  summary(b: { type: B['type'] } & Partial<B>): string;
  /** Layouts the block reads (its output keeps the layout it read). */
  reads: readonly TensorLayout[];
  /**
   * The block's op choices, first position of its codec vector (`op` in BlockChoice): its main op and
   * possibly 'identity' (skips the block, so its numeric choices decide nothing). Undefined: no op choice
   * (MoE), the block always runs.
   */
  ops?(block: B): readonly string[];
  /** The op that runs the block (the choice's `op` when unset), e.g. 'dense'. */
  mainOp: string;
  /** Numeric choice dimensions in codec order, after the op position. */
  dims(block: B): readonly ChoiceDim[];
  /** Possible output widths of one block given its possible input widths (every choice, identity included). */
  outWidths(block: B, inWidths: ReadonlySet<number>): Set<number>;
  /** The per-sample shape a choice passes on (core/nn/blocks' instances agree: their tests compare). */
  outShape(block: B, choice: Choice, input: SampleShape): SampleShape;
  /**
   * FLOPs (2 per multiply-add) one sample runs through a choice before training has measured anything: an
   * MoE block counts its routing's nominal experts per token (the supernet's countFlops reads measured use).
   */
  nominalFlops(block: B, choice: Choice, input: SampleShape): number;
  /** The block's choices as text for the space graph, e.g. ["width 32, 64", "ops dense, identity"]. */
  choiceText(block: B): string[];
  /** One non-identity choice as short text for the space graph, e.g. "64", "32@3×3", "h128". */
  pickText(block: B, choice: Choice): string;
  /** Forward activation terms (float32 elements) of one training step through a choice (activationMemory). */
  activationTerms(block: B, choice: Choice, input: SampleShape, ctx: ActivationContext): ActivationTerm[];
  /** Parameters one block position allocates when inputs up to `inMax` wide reach it (the supernet size limit). */
  maxParams(block: B, inMax: number): number;
  /** The block keeps running statistics (BatchNorm): evaluating a subnet needs recalibration first. */
  runningStatistics?(block: B): boolean;
  /** The block routes tokens to experts (MoE reports: expert load, specialisation maps). */
  routesTokens?(block: B): boolean;
  /** Semantic checks the schema cannot express (validateSpace), fields relative to the block: "ops", "routing.k". */
  validate?(block: B, ctx: BlockCheckContext): BlockIssue[];
}

export interface BlockCheckContext {
  /** Possible input widths of the stage's first block. */
  inWidths: readonly number[];
  /** The stage's largest depth. */
  maxDepth: number;
  /** Tokens per sample reaching the stage (a token or sequence input's length; 1 otherwise). */
  inLength: number;
}

export interface BlockIssue {
  field: string;
  message: string;
}

/**
 * The checks of a block with an op choice: distinct ops, and an 'identity' op only where it keeps the tensor's
 * shape — some block input width equals a width the block itself can produce (the SPOS / OFA "skip"
 * candidate; blocks after the first read the previous block's output, which matches whenever the main op is
 * present).
 */
export function opIssues(ops: readonly string[], main: string, sizes: readonly number[], unit: string, ctx: BlockCheckContext): BlockIssue[] {
  const out: BlockIssue[] = [];
  if (new Set(ops).size !== ops.length) out.push({ field: 'ops', message: 'ops must be distinct' });
  if (ops.includes('identity')) {
    const laterBlocksMatch = ctx.maxDepth > 1 && ops.includes(main);
    if (!laterBlocksMatch && !ctx.inWidths.some((w) => sizes.includes(w))) {
      const fmt = ctx.inWidths.length === 1 ? String(ctx.inWidths[0]) : `{${ctx.inWidths.join(', ')}}`;
      out.push({ field: 'ops', message: `identity needs an input ${unit} equal to one of the block's ${unit} choices [${sizes.join(', ')}]; inputs here have ${unit} ${fmt}` });
    }
  }
  return out;
}
