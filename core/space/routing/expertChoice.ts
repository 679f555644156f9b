/** Expert-choice routing (Zhou et al., 2022): each expert takes its top C = capacityFactor·T/S tokens. */
import { z } from 'zod';
import { positiveInt, type RoutingDescriptor } from './descriptor.js';

export const ExpertChoiceRouting = z
  .object({
    mode: z.literal('expert-choice'),
    /** Each expert takes capacityFactor · T / E tokens. */
    capacityFactor: z.number().gt(0).default(2),
    /**
     * The capped variant (Zhou et al., 2022, §3.3; EC-CAP2 / EC-CAP3 there): at most this many experts per
     * token, the assignment solving the entropy-regularised LP by Dykstra's algorithm
     * (core/nn/routers/cappedExpertChoice.ts). Unset: uncapped expert choice.
     */
    maxExpertsPerToken: positiveInt.optional(),
    /** λ of the capped program's entropy term (the paper gives none; unset = 0.02 on softmax scores). */
    capEntropy: z.number().gt(0).optional(),
    /** Dykstra iterations of the capped program (unset = 100). */
    capIterations: positiveInt.max(200).optional(),
  })
  .strict();
export type ExpertChoiceRouting = z.infer<typeof ExpertChoiceRouting>;

/** Tokens each slot takes from a batch of T: round(cf·T/S), clamped to [1, T] (every path uses this). */
export function expertCapacity(capacityFactor: number, tokens: number, slots: number): number {
  return Math.min(tokens, Math.max(1, Math.round((capacityFactor * tokens) / slots)));
}

export const expertChoice: RoutingDescriptor<ExpertChoiceRouting> = {
  mode: 'expert-choice',
  label: 'expert choice',
  paper: 'Zhou et al., 2022',
  schema: ExpertChoiceRouting,
  initial: { mode: 'expert-choice', capacityFactor: 2 },
  fields: [
    { key: 'capacityFactor', label: 'Expert capacity factor', step: 0.25 },
    { key: 'maxExpertsPerToken', label: 'Max experts per token (capped)', hint: 'EC-CAP: entropy-regularised LP by Dykstra; empty = uncapped' },
    { key: 'capEntropy', label: 'Cap entropy λ', hint: 'capped program only; default 0.02', step: 0.01 },
    { key: 'capIterations', label: 'Cap Dykstra iterations', hint: 'capped program only; default 100' },
  ],
  summary: (r) => `expert choice ×${r.capacityFactor}${r.maxExpertsPerToken ? `, ≤${r.maxExpertsPerToken}/token` : ''}`,
  tokenChoice: false,
  variableK: false,
  defaultGate: () => 'raw',
  maxChoices: (r, s) => Math.min(s.slots, r.maxExpertsPerToken ?? s.slots),
  // E FFN slots take cf·T/S tokens each, i.e. cf·E/S per token on average (at most the cap).
  ffnPerToken: (r, s) => Math.min((r.capacityFactor * s.ffnExperts) / s.slots, r.maxExpertsPerToken ?? Infinity),
  ffnAssignments: (r, s, tokens) => s.ffnExperts * expertCapacity(r.capacityFactor, tokens, s.slots),
  validate: (_r, s) =>
    s.capacityFactor !== null ? [{ field: 'capacityFactor', message: 'expert-choice routing sets its capacity with routing.capacityFactor; leave capacityFactor null' }] : [],
};
