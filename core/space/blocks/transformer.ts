/**
 * Transformer block (pre-LN, as GPT-2 and ViT): h = x + Attn(LN₁(x)), y = h + FFN(LN₂(h)), on a sequence.
 * Elastic choices as HAT (Wang et al., 2020) and AutoFormer (Chen et al., 2021): heads and MLP ratio per
 * layer, depth per stage; the embedding width d comes from the embedding block before it and every
 * transformer block keeps it (the residual stream). Each head is `headDim` wide at every choice (HAT's
 * fixed head dimension). The FFN is dense (d → round(ratio·d) → d) or, with `moe` set, an MoE layer with any
 * routing the space offers whose experts are d → round(ratio·d) → d (V-MoE, Riquelme et al., 2021, puts one
 * in every other block). The tf half is core/nn/blocks/transformer.ts.
 */
import { z } from 'zod';
import { Activation, activationTensors, choices, positiveInt, type BlockDescriptor, type BlockIssue, type SampleShape } from './descriptor.js';
import { moe as moeDescriptor, MoEBlock, routingShape as routingShapeOf } from './moe.js';
import { describeRouting } from '../routing/registry.js';

const list = (xs: readonly (number | string)[]) => xs.join(', ');

/** The MoE options of a transformer's FFN: an MoE block without its own hidden widths (ratio · d) and residual (the transformer's). */
export const TransformerMoE = MoEBlock.omit({ type: true, expertHidden: true, residual: true });
export type TransformerMoE = z.infer<typeof TransformerMoE>;

export const TransformerBlock = z
  .object({
    type: z.literal('transformer'),
    /** Head-count choices; each head is headDim wide (fixed across choices, as HAT). */
    heads: choices(positiveInt.max(64)),
    headDim: positiveInt.max(512).default(16),
    /** FFN hidden width = round(mlpRatio · d) choices (AutoFormer: 3.5, 4). */
    mlpRatio: choices(z.number().gt(0).max(16)),
    /** Causal self-attention (language models): a token attends to itself and earlier tokens only. */
    causal: z.boolean().default(false),
    activation: Activation.default('gelu'),
    /** Set: the FFN is an MoE layer with these options; absent: a dense FFN. */
    moe: TransformerMoE.optional(),
  })
  .strict();
export type TransformerBlock = z.infer<typeof TransformerBlock>;

/** FFN hidden width of a choice at width d (AutoFormer: hidden = ratio · embed dim). */
export function ffnHidden(mlpRatio: number, d: number): number {
  return Math.max(1, Math.round(mlpRatio * d));
}

/** The MoE block a transformer's MoE FFN is: its options, experts of `hidden` units, no residual of its own (null: a dense FFN). */
export function transformerMoEBlock(b: TransformerBlock, hidden: number): MoEBlock | null {
  return b.moe ? { ...b.moe, type: 'moe', expertHidden: [hidden], residual: false } : null;
}

/** Attention FLOPs of one sequence: Q/K/V/O projections (4·T·d·h·dₕ MACs) and QKᵀ, PV (2·h·T²·dₕ), causal ones at full T² (what the kernel runs). */
function attentionFlops(d: number, heads: number, headDim: number, T: number): number {
  return 2 * (4 * T * d * heads * headDim + 2 * heads * T * T * headDim);
}

export const transformer: BlockDescriptor<TransformerBlock> = {
  type: 'transformer',
  label: 'transformer',
  schema: TransformerBlock,
  initial: { type: 'transformer', heads: [2, 4], headDim: 16, mlpRatio: [2, 4], causal: false, activation: 'gelu' },
  summary: (b) =>
    `transformer · ${(b.heads ?? []).join('/')} heads · ratio ${(b.mlpRatio ?? []).join('/')}${b.causal ? ' · causal' : ''} · ${b.moe ? `MoE FFN (${b.moe.experts} experts)` : 'dense FFN'}`,
  reads: ['sequence'],
  routesTokens: (b) => b.moe !== undefined,
  mainOp: 'transformer',
  dims: (b) => [
    { key: 'heads', values: b.heads, short: 'a' },
    { key: 'mlpRatio', values: b.mlpRatio, short: 'r' },
  ],
  outWidths: (_b, inW) => new Set(inW),
  outShape: (_b, _c, input) => input,
  nominalFlops: (b, c, input) => {
    const d = input.width;
    const hidden = ffnHidden(c.mlpRatio!, d);
    const moe = transformerMoEBlock(b, hidden);
    const ffn = moe ? moeDescriptor.nominalFlops(moe, { expertHidden: hidden }, input) : 2 * input.length * 2 * d * hidden;
    return attentionFlops(d, c.heads!, b.headDim, input.length) + ffn;
  },
  choiceText: (b) => [
    `heads ${list(b.heads)} × ${b.headDim}`,
    `mlp ratio ${list(b.mlpRatio)}`,
    ...(b.causal ? ['causal'] : []),
    b.moe ? `MoE FFN: ${b.moe.experts} experts · ${describeRouting(b.moe.routing).summary(b.moe.routing)}` : 'dense FFN',
  ],
  pickText: (_b, c) => `${c.heads}h·r${c.mlpRatio}`,
  activationTerms: (b, c, input: SampleShape, ctx) => {
    const rows = ctx.batch * input.length;
    const T = input.length;
    const d = input.width;
    const h = c.heads!;
    const inner = h * b.headDim;
    const hidden = ffnHidden(c.mlpRatio!, d);
    const moe = transformerMoEBlock(b, hidden);
    return [
      // Layer norms (mean, centred, square, variance, +ε, rsqrt, product, γ, β: 8 each), Q/K/V (projection, bias,
      // transpose), the attention output and its merge, the output projection and bias, two residual adds.
      { path: `${ctx.at}.headDim`, what: `${ctx.where} attention projections (${h} heads × ${b.headDim})`, elements: rows * (16 * d + 11 * inner + 4 * d) },
      // Scores, scale, mask, softmax (max, shifted, exp, normalised): [B, h, T, T] each — quadratic in the sequence.
      { path: 'batchSize', what: `${ctx.where} attention scores (${h} heads × ${T}² tokens)`, elements: 7 * ctx.batch * h * T * T },
      ...(moe
        ? moeDescriptor.activationTerms(moe, { expertHidden: hidden }, input, { ...ctx, at: `${ctx.at}.moe` })
        : [{ path: `${ctx.at}.mlpRatio`, what: `${ctx.where} FFN (hidden ${hidden})`, elements: rows * (hidden * (2 + activationTensors(b.activation)) + 2 * d) }]),
    ];
  },
  maxParams: (b, d) => {
    const inner = Math.max(...b.heads) * b.headDim;
    const hidden = ffnHidden(Math.max(...b.mlpRatio), d);
    const moe = transformerMoEBlock(b, hidden);
    // Two layer norms, Q/K/V/O with biases, the FFN (dense d → hidden → d, or the MoE layer).
    return 4 * d + 4 * d * inner + 3 * inner + d + (moe ? moeDescriptor.maxParams(moe, d) : 2 * d * hidden + hidden + d);
  },
  validate: (b, ctx) => {
    const moe = transformerMoEBlock(b, 1);
    if (!moe) return [];
    const out: BlockIssue[] = [];
    // Every expert hidden width a choice can ask for (ratio · d over the widths reaching the stage) splits into the segments.
    b.mlpRatio.forEach((r, j) => {
      for (const d of ctx.inWidths) {
        const h = ffnHidden(r, d);
        if (h % moe.segments !== 0) out.push({ field: `mlpRatio[${j}]`, message: `FFN hidden width ${h} (ratio ${r} × width ${d}) is not divisible by moe.segments (${moe.segments})` });
      }
    });
    for (const issue of describeRouting(moe.routing).validate(moe.routing, routingShapeOf(moe))) out.push({ field: `moe.${issue.field}`, message: issue.message });
    return out;
  },
};
