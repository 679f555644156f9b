/**
 * Conv block: 'same' conv with elastic channels and elastic kernel (the centre k×k of the largest, Once-for-All,
 * Cai et al., 2020), then BatchNorm (or a bias) and the activation.
 */
import { z } from 'zod';
import { Activation, choices, opIssues, positiveInt, type BlockDescriptor } from './descriptor.js';

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
    { key: 'channels', values: b.channels },
    { key: 'kernel', values: b.kernel },
  ],
  outWidths: (b, inW) => new Set([...(b.ops.includes('conv') ? b.channels : []), ...(b.ops.includes('identity') ? inW : [])]),
  maxParams: (b, inMax) => Math.max(...b.kernel) ** 2 * inMax * Math.max(...b.channels) + 2 * Math.max(...b.channels),
  validate: (b, ctx) => [
    ...opIssues(b.ops, 'conv', b.channels, 'channels', ctx),
    ...(b.ops.includes('identity') && b.stride === 2 ? [{ field: 'ops', message: 'identity cannot replace a stride-2 conv (the spatial size would not match)' }] : []),
  ],
};
