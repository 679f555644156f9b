/**
 * Conv block: 'same' conv with elastic channels and elastic kernel (the centre k×k of the largest, Once-for-All,
 * Cai et al., 2020), then BatchNorm (or a bias) and the activation.
 */
import { z } from 'zod';
import { Activation, activationTensors, choices, opIssues, positiveInt, type BlockDescriptor } from './descriptor.js';

const list = (xs: readonly (number | string)[]) => xs.join(', ');

export const ConvBlock = z
  .object({
    type: z.literal('conv'),
    channels: choices(positiveInt.max(2048)),
    /** Odd kernel sizes; a smaller kernel is the centre of the largest (OFA elastic kernel). */
    kernel: choices(positiveInt.max(11).refine((k) => k % 2 === 1, 'kernel sizes must be odd')),
    stride: z.union([z.literal(1), z.literal(2)]).default(1),
    activation: Activation.default('relu'),
    batchNorm: z.boolean().default(true),
    ops: z.array(z.enum(['conv', 'identity'])).min(1).default(['conv']),
    /**
     * OFA's kernel transformation matrices (Cai et al., 2020, §3.2): a smaller kernel is the next larger
     * one's centre times a learnt k²×k² matrix (identity at the start), chained down from the largest.
     */
    kernelTransform: z.boolean().optional(),
  })
  .strict();
export type ConvBlock = z.infer<typeof ConvBlock>;

export const conv: BlockDescriptor<ConvBlock> = {
  type: 'conv',
  label: 'conv',
  schema: ConvBlock,
  initial: { type: 'conv', channels: [16, 32], kernel: [3, 5], stride: 1, activation: 'relu', batchNorm: true, ops: ['conv'] },
  summary: (b) => `conv · ${(b.channels ?? []).join('/')}ch · k${(b.kernel ?? []).join('/')}`,
  reads: ['image'],
  runningStatistics: (b) => b.batchNorm,
  ops: (b) => b.ops,
  mainOp: 'conv',
  dims: (b) => [
    { key: 'channels', values: b.channels, elastic: 'width' },
    { key: 'kernel', values: b.kernel, elastic: 'kernel' },
  ],
  outWidths: (b, inW) => new Set([...(b.ops.includes('conv') ? b.channels : []), ...(b.ops.includes('identity') ? inW : [])]),
  outShape: (b, c, input) => ({ ...input, width: c.channels!, spatial: [Math.ceil(input.spatial[0] / b.stride), Math.ceil(input.spatial[1] / b.stride)] }),
  nominalFlops: (b, c, input) => 2 * c.kernel! ** 2 * input.width * c.channels! * Math.ceil(input.spatial[0] / b.stride) * Math.ceil(input.spatial[1] / b.stride),
  choiceText: (b) => [`channels ${list(b.channels)}`, `kernel ${list(b.kernel)}`, ...(b.stride === 2 ? ['stride 2'] : []), ...(b.ops.length > 1 ? [`ops ${list(b.ops)}`] : [])],
  pickText: (_b, c) => `${c.channels}@${c.kernel}×${c.kernel}`,
  // The im2col patch matrix (built on the CPU and wasm backends, core/nn/conv.ts), the feature map,
  // BatchNorm's centred / squared / normalised / scaled / shifted maps (or the bias add), the activation.
  activationTerms: (b, c, input, { batch, at, where }) => {
    const [h, w] = [Math.ceil(input.spatial[0] / b.stride), Math.ceil(input.spatial[1] / b.stride)];
    const k = c.kernel!;
    return [
      { path: `${at}.kernel`, what: `${where} conv patches (${k}×${k}×${input.width} at ${h}×${w})`, elements: batch * h * w * k * k * input.width },
      { path: `${at}.channels`, what: `${where} conv maps (${c.channels} channels at ${h}×${w})`, elements: batch * h * w * c.channels! * (1 + (b.batchNorm ? 5 : 1) + activationTensors(b.activation)) },
    ];
  },
  maxParams: (b, inMax) => Math.max(...b.kernel) ** 2 * inMax * Math.max(...b.channels) + 2 * Math.max(...b.channels),
  validate: (b, ctx) => [
    ...opIssues(b.ops, 'conv', b.channels, 'channels', ctx),
    ...(b.ops.includes('identity') && b.stride === 2 ? [{ field: 'ops', message: 'identity cannot replace a stride-2 conv (the spatial size would not match)' }] : []),
  ],
};
