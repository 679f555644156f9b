/**
 * ProMoE prototypical routing with its routing contrastive loss (Wei et al., ICLR 2026, "Routing Matters in
 * MoE: Scaling Diffusion Transformers with Explicit Routing Guidance", §4.1 Eq. (4), §4.3 Eq. (6), Alg. 1):
 * each routed expert j has a learnable prototype p_j; a token's scores are S_ij = α · cos(x_i, p_j) with the
 * identity activation (no softmax), it takes its top-K experts by S and their gates are the scores S.
 * The routing contrastive loss pulls each prototype toward the mean m_i of the tokens routed to it and away
 * from the other experts' means, over the N_a experts that got tokens in the batch:
 *   L_RCL = −(1/N_a) Σ_i log( exp(cos(p_i, m_i)/τ) / Σ_j exp(cos(p_i, m_j)/τ) ).
 * Defaults from the paper's appendix A: α = 1, τ = 0.07, λ_RCL = 1; top-1 (its E14A1S1U1 configuration).
 * The paper trains without the load-balancing loss (the push-away term balances): set auxLossWeight 0.
 *
 * Deviations, stated: the first step of its router — conditional routing of classifier-free guidance's
 * unconditional tokens to an unconditional expert — has no counterpart in classification and is left out;
 * the prototypes are the router kernel's columns ([dMax, S]; a width-d subnet uses their first d
 * coordinates, as every router's kernel is sliced).
 */
import { z } from 'zod';
import { positiveInt, fixedTopKArithmetic, type RoutingDescriptor } from './descriptor.js';

export const PrototypeRouting = z
  .object({
    mode: z.literal('prototype'),
    k: positiveInt.default(1),
    /** α of Eq. (4): scores = α · cos(x, p). */
    scale: z.number().gt(0).default(1),
    /** τ of the routing contrastive loss. */
    rclTemperature: z.number().gt(0).default(0.07),
    /** λ_RCL, the routing contrastive loss weight (0 = prototypical routing alone). */
    rclWeight: z.number().min(0).default(1),
  })
  .strict();
export type PrototypeRouting = z.infer<typeof PrototypeRouting>;

export const prototype: RoutingDescriptor<PrototypeRouting> = {
  mode: 'prototype',
  label: 'ProMoE prototypes',
  paper: 'Wei et al., ICLR 2026: Routing Matters in MoE (ProMoE)',
  schema: PrototypeRouting,
  initial: { mode: 'prototype', k: 1 },
  fields: [
    { key: 'k', label: 'Top-k' },
    { key: 'scale', label: 'Cosine scale α', step: 0.5 },
    { key: 'rclWeight', label: 'Routing contrastive loss λ', hint: 'pulls each prototype to its tokens\u2019 mean, pushes it from the others\u2019', step: 0.1 },
    { key: 'rclTemperature', label: 'Contrastive temperature τ', step: 0.01 },
  ],
  summary: (r) => `ProMoE prototypes top-${r.k}${r.rclWeight > 0 ? ` + RCL ${r.rclWeight}` : ''}`,
  tokenChoice: true,
  variableK: false,
  // Gates are the scores themselves (Alg. 1: G = TopK(S)); the route multiplies them by the choice.
  defaultGate: () => 'raw',
  ...fixedTopKArithmetic,
};
