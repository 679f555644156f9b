/** Top-p dynamic routing (Huang et al., 2024, "Harder tasks need more experts: dynamic routing in MoE models"). */
import { z } from 'zod';
import { GateCombination, positiveInt, tokenChoiceAssignments, type RoutingDescriptor } from './descriptor.js';

export const TopPRouting = z
  .object({
    mode: z.literal('topp'),
    /** Smallest set of experts whose cumulative router probability reaches p. */
    p: z.number().gt(0).max(1).default(0.5),
    maxK: positiveInt.optional(),
    /**
     * Weight of the dynamic loss, the router's mean entropy: a flat router needs many experts to reach
     * p, so minimising entropy keeps top-p from activating all of them (Huang et al., 2024; 1e-4 there).
     */
    entropyLossWeight: z.number().min(0).default(0),
    /** Default 'raw': the gates are the router probabilities of the chosen experts (Huang et al., 2024). */
    gate: GateCombination.optional(),
  })
  .strict();
export type TopPRouting = z.infer<typeof TopPRouting>;

export const topp: RoutingDescriptor<TopPRouting> = {
  mode: 'topp',
  label: 'top-p',
  paper: 'Huang et al., 2024',
  schema: TopPRouting,
  initial: { mode: 'topp', p: 0.5 },
  fields: [
    { key: 'p', label: 'Top-p threshold', step: 0.05 },
    { key: 'maxK', label: 'Max experts (optional)' },
    { key: 'entropyLossWeight', label: 'Dynamic loss weight', hint: 'router entropy (Huang et al.)', step: 0.0001 },
  ],
  summary: (r) => `top-p ${r.p}`,
  tokenChoice: true,
  variableK: true,
  defaultGate: (r) => r.gate ?? 'raw',
  maxChoices: (r, s) => Math.min(s.slots, r.maxK ?? s.slots),
  ffnPerToken: (r, s) => Math.min(s.ffnExperts, r.maxK ?? s.slots),
  ffnAssignments: (r, s, tokens) => tokenChoiceAssignments(r.maxK ?? s.slots, s, tokens),
  validate: (r, s) => (r.maxK !== undefined && r.maxK > s.slots ? [{ field: 'routing.maxK', message: `maxK=${r.maxK} exceeds the ${s.slotText}` }] : []),
};
