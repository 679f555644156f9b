/**
 * Similarity-aware routing (Nguyen, Tran, Nguyen & Baraniuk, ICML 2025, "Improving Routing in Sparse
 * Mixture of Experts with Graph of Tokens", Similarity-Aware (S)MoE): a token's expert distribution is
 * mixed over the graph of tokens before top-k, p̃_i = Σ_j S_ij · softmax(W_g x_j), with the token
 * similarities S = softmax_j(x_i W_s x_jᵀ / τ). Mixing over similar tokens lowers the entropy of expert
 * selection and with it routing fluctuation (the paper's claim; the run view measures fluctuation).
 *
 * Deviations, stated: the graph is the rows the layer routes together — the samples of a batch for vector
 * data, the B·T tokens of a batch of sequences (the paper: the tokens of one sequence) — so, like expert
 * choice, routing depends on the batch (a batch of one routes as plain top-k). W_s is learnt, [d, d],
 * initialised to the identity (scaled dot-product similarity at the start); τ defaults to √d (unset).
 * The Attention-Aware variant (S from the preceding attention layer) is not implemented.
 *
 * Measured (bench/issue13/webgpu.jsonl, spirals, batches of 64, H200 WebGPU): the mixed distribution of
 * a batch of unrelated samples is close to the batch mean, so every token took the same two experts (load
 * [0, 0, .5, .5], the collapse alarm fires, fluctuation 0 because nothing moves) while accuracy stayed
 * high (0.988 val, n = 160). The graph helps where neighbouring tokens are related (a sequence), as in the paper.
 */
import { z } from 'zod';
import { GateCombination, positiveInt, fixedTopKArithmetic, type RoutingDescriptor } from './descriptor.js';

export const SimilarityRouting = z
  .object({
    mode: z.literal('similarity'),
    k: positiveInt.default(2),
    /** Temperature τ of the token-similarity softmax; unset = √d (d the router input width). */
    temperature: z.number().gt(0).optional(),
    /** How the chosen experts' gates (of the mixed distribution) combine; unset = renormalised for k ≥ 2, raw for k = 1. */
    gate: GateCombination.optional(),
  })
  .strict();
export type SimilarityRouting = z.infer<typeof SimilarityRouting>;

export const similarity: RoutingDescriptor<SimilarityRouting> = {
  mode: 'similarity',
  label: 'similarity-aware top-k',
  paper: 'Nguyen et al., ICML 2025: Improving Routing in Sparse MoE with Graph of Tokens',
  schema: SimilarityRouting,
  initial: { mode: 'similarity', k: 2 },
  fields: [
    { key: 'k', label: 'Top-k' },
    { key: 'temperature', label: 'Similarity temperature τ', hint: 'softmax(x W_s xᵀ / τ) over the batch; empty = √d', step: 0.1 },
  ],
  summary: (r) => `similarity-aware top-${r.k}`,
  tokenChoice: true,
  variableK: false,
  defaultGate: (r, segments) => r.gate ?? (r.k === 1 || segments > 1 ? 'raw' : 'renormalize'),
  ...fixedTopKArithmetic,
};
