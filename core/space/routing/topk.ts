/** Top-k softmax routing (Shazeer et al., 2017; Switch, Fedus et al., 2021; GShard, Lepikhin et al., 2021). */
import { z } from 'zod';
import { GateCombination, positiveInt, fixedTopKArithmetic, type RoutingDescriptor } from './descriptor.js';

export const TopKRouting = z
  .object({
    mode: z.literal('topk'),
    k: positiveInt.default(2),
    /** How the chosen experts' gates combine; unset = the paper default for k (see `defaultGate`). */
    gate: GateCombination.optional(),
    /**
     * Auxiliary-loss-free balancing (Wang et al., 2024, "Auxiliary-Loss-Free Load Balancing Strategy for
     * Mixture-of-Experts"; DeepSeek-V3, 2024): a per-expert bias b is added to the router probabilities for
     * the top-k choice only (never to the gates), and after each training step b_i += u · sign(mean load −
     * load_i). This is u, the bias update rate (0.001 in both papers); unset or 0 = off (optional, so routings
     * written before it parse unchanged). Usually with auxLossWeight 0, as the papers train.
     */
    biasUpdateRate: z.number().min(0).optional(),
  })
  .strict();
export type TopKRouting = z.infer<typeof TopKRouting>;

export const topk: RoutingDescriptor<TopKRouting> = {
  mode: 'topk',
  label: 'top-k',
  paper: 'Shazeer et al., 2017; Fedus et al., 2021 (Switch); Lepikhin et al., 2021 (GShard)',
  schema: TopKRouting,
  initial: { mode: 'topk', k: 2 },
  fields: [
    { key: 'k', label: 'Top-k' },
    { key: 'biasUpdateRate', label: 'Loss-free bias rate u', hint: 'DeepSeek-V3: b_i += u·sign(mean load − load_i) on the top-k choice only; 0.001 there, 0 = off', step: 0.001 },
  ],
  summary: (r) => `top-${r.k}${(r.biasUpdateRate ?? 0) > 0 ? ' + loss-free bias' : ''}`,
  selectionBiasRate: (r) => r.biasUpdateRate ?? 0,
  tokenChoice: true,
  variableK: false,
  // Top-1 (Switch, AdaMoE k=1) and fine-grained top-k (DeepSeekMoE v1, segments > 1) use the raw router
  // probabilities; top-k with k ≥ 2 renormalises (GShard top-2, Mixtral).
  defaultGate: (r, segments) => r.gate ?? (r.k === 1 || segments > 1 ? 'raw' : 'renormalize'),
  ...fixedTopKArithmetic,
};
