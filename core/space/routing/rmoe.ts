/**
 * Layerwise Recurrent Router, RMoE (Qiu et al., "Layerwise Recurrence for Router in Mixture-of-Experts",
 * 2024; reference code github.com/qiuzh20/RMoE, llama_moe_rnn/): each MoE layer l projects its router
 * input, x'_l = x_l · W_p^l, runs one GRU step over the layers, h_l = GRU(x'_l, h_{l−1}) (h_0 = 0; one GRU
 * cell shared by every RMoE layer of the model, as the reference model owns a single `rnn_router`), and
 * routes on the state: logits_l = h_l · W_r^l, then top-k with the top-k gates renormalised (Mixtral, as
 * the reference's routing). The projection and read-out carry no bias, the GRU cell has torch's biases.
 *
 * Defaults from the reference configuration (configuration_llama_moe_rnn.py): k = 2
 * (num_experts_per_tok), GRU width 256 (moe_router_rnn_hidden_size). The state crosses every RMoE layer
 * of one forward pass in order, with other layers between them (the reference has an MoE in every
 * decoder layer); layers of a different GRU width form a separate chain.
 */
import { z } from 'zod';
import { GateCombination, positiveInt, fixedTopKArithmetic, type RoutingDescriptor } from './descriptor.js';

export const RMoERouting = z
  .object({
    mode: z.literal('rmoe'),
    k: positiveInt.default(2),
    /** GRU state width H (the projection x → H, the cell H → H, the read-out H → experts). */
    hidden: positiveInt.max(4096).default(256),
    /** How the chosen experts' gates combine; unset = renormalised over the top-k (the reference). */
    gate: GateCombination.optional(),
  })
  .strict();
export type RMoERouting = z.infer<typeof RMoERouting>;

export const rmoe: RoutingDescriptor<RMoERouting> = {
  mode: 'rmoe',
  label: 'RMoE (GRU across layers)',
  paper: 'Qiu et al., 2024: Layerwise Recurrence for Router in Mixture-of-Experts',
  schema: RMoERouting,
  initial: { mode: 'rmoe', k: 2, hidden: 256 },
  fields: [
    { key: 'k', label: 'Top-k' },
    { key: 'hidden', label: 'GRU width', hint: 'router state carried across the MoE layers' },
  ],
  summary: (r) => `RMoE top-${r.k} (GRU ${r.hidden})`,
  tokenChoice: true,
  variableK: false,
  defaultGate: (r) => r.gate ?? 'renormalize',
  // Projection d·H, read-out H·S, the cell 6H(H+1) (counted per block here; the model holds one per width);
  // FLOPs 2dH + 12H² + 2HS per token, as core/nn/routers/rmoe.ts counts them.
  routerCost: (r, d, slots) => ({ params: d * r.hidden + r.hidden * slots + 6 * r.hidden * (r.hidden + 1), flops: 2 * d * r.hidden + 12 * r.hidden * r.hidden + 2 * r.hidden * slots }),
  ...fixedTopKArithmetic,
};
