/** Expert-choice routing (Zhou et al., 2022): each expert takes its top C = capacityFactor·T/S tokens. */
import { z } from 'zod';
import type { RoutingDescriptor } from './descriptor.js';

export const ExpertChoiceRouting = z
  .object({
    mode: z.literal('expert-choice'),
    /** Each expert takes capacityFactor · T / E tokens. */
    capacityFactor: z.number().gt(0).default(2),
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
  fields: [{ key: 'capacityFactor', label: 'Expert capacity factor', step: 0.25 }],
  summary: (r) => `expert choice ×${r.capacityFactor}`,
  tokenChoice: false,
  variableK: false,
  defaultGate: () => 'raw',
  maxChoices: (_r, s) => s.slots,
  // E FFN slots take cf·T/S tokens each, i.e. cf·E/S per token on average.
  ffnPerToken: (r, s) => (r.capacityFactor * s.ffnExperts) / s.slots,
  ffnAssignments: (r, s, tokens) => s.ffnExperts * expertCapacity(r.capacityFactor, tokens, s.slots),
  validate: (_r, s) =>
    s.capacityFactor !== null ? [{ field: 'capacityFactor', message: 'expert-choice routing sets its capacity with routing.capacityFactor; leave capacityFactor null' }] : [],
};
