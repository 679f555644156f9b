/** Dense block: y = act(x·W + b), elastic width (Once-for-All, Cai et al., 2020), optional residual. */
import { z } from 'zod';
import { Activation, activationTensors, bitsDims, choices, opIssues, positiveInt, WeightBits, type BlockDescriptor } from './descriptor.js';

const list = (xs: readonly (number | string)[]) => xs.join(', ');

export const DenseBlock = z
  .object({
    type: z.literal('dense'),
    /** Output width choices (elastic width). */
    width: choices(positiveInt.max(8192)),
    activation: Activation.default('relu'),
    /** Operation choices: 'dense' applies the layer, 'identity' skips it (needs equal in/out width). */
    ops: z.array(z.enum(['dense', 'identity'])).min(1).default(['dense']),
    residual: z.boolean().default(false),
    /** Weight bit width choices of the kernel (descriptor.ts WeightBits); absent: float. */
    bits: WeightBits.optional(),
    /**
     * Mixture-of-Supernets, layer-wise (Jawahar et al., 2024; reference UBC-NLP/MoS custom_bert.py
     * `archrouting_jack_2L`): the kernel and bias are mixed from `sets` weight sets by a router on the subnet's
     * architecture features (core/space/archFeatures.ts), W = Σ_k α_k W_k with α = softmax(Linear(ReLU(Linear(a)))),
     * hidden width `hidden`, then sliced to the chosen width. The reference's defaults: 2 sets, hidden 128. An
     * exported subnet holds only its mixed W (core/nn/blocks/archMixture.ts). Absent: one weight set.
     */
    archMixture: z
      .object({
        sets: z.number().int().min(2).max(16).default(2),
        hidden: positiveInt.max(4096).default(128),
      })
      .strict()
      .optional(),
  })
  .strict();
export type DenseBlock = z.infer<typeof DenseBlock>;

export const dense: BlockDescriptor<DenseBlock> = {
  type: 'dense',
  label: 'dense',
  schema: DenseBlock,
  initial: { type: 'dense', width: [32, 64], activation: 'relu', ops: ['dense'], residual: false },
  summary: (b) => `dense · width ${(b.width ?? []).join('/')}`,
  // On a sequence it acts on the last axis of every token.
  reads: ['vector', 'sequence'],
  ops: (b) => b.ops,
  mainOp: 'dense',
  dims: (b) => [{ key: 'width', values: b.width, elastic: 'width' }, ...bitsDims(b.bits)],
  outWidths: (b, inW) => new Set([...(b.ops.includes('dense') ? b.width : []), ...(b.ops.includes('identity') ? inW : [])]),
  outShape: (_b, c, input) => ({ ...input, width: c.width! }),
  nominalFlops: (_b, c, input) => 2 * input.width * c.width! * input.length,
  choiceText: (b) => [`width ${list(b.width)}`, ...(b.ops.length > 1 ? [`ops ${list(b.ops)}`] : []), ...(b.bits ? [`bits ${list(b.bits)}`] : [])],
  pickText: (_b, c) => `${c.width}${c.bits !== undefined && c.bits < 32 ? `·${c.bits}b` : ''}`,
  // matMul, bias add, activation (and the residual add).
  activationTerms: (b, c, input, { batch, at, where }) => [
    { path: `${at}.width`, what: `${where} dense (width ${c.width})`, elements: batch * input.length * c.width! * (2 + activationTensors(b.activation) + (b.residual && input.width === c.width ? 1 : 0)) },
  ],
  // Mixture-of-Supernets: every weight set, and the router's hidden and output layers (its input rows, one per
  // architecture feature, depend on the space, not the block: not counted here).
  maxParams: (b, inMax) => {
    const w = Math.max(...b.width);
    const m = b.archMixture;
    return (m ? m.sets : 1) * (inMax * w + w) + (m ? m.hidden + m.hidden * m.sets + m.sets : 0);
  },
  validate: (b, ctx) => opIssues(b.ops, 'dense', b.width, 'width', ctx),
};
