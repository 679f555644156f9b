/** SMoE-Dropout (Chen et al., 2023): a random router that is never trained; k grows from kStart to kEnd. */
import { z } from 'zod';
import { GateCombination, positiveInt, tokenChoiceAssignments, type RoutingDescriptor, type RoutingIssue } from './descriptor.js';

export const SMoEDropoutRouting = z
  .object({
    mode: z.literal('smoe-dropout'),
    /** k grows linearly from kStart to kEnd over training; the router is random and frozen. */
    kStart: positiveInt.default(1),
    kEnd: positiveInt.default(2),
    gate: GateCombination.optional(),
  })
  .strict();
export type SMoEDropoutRouting = z.infer<typeof SMoEDropoutRouting>;

export const smoeDropout: RoutingDescriptor<SMoEDropoutRouting> = {
  mode: 'smoe-dropout',
  label: 'SMoE-dropout',
  paper: 'Chen et al., 2023',
  schema: SMoEDropoutRouting,
  initial: { mode: 'smoe-dropout', kStart: 1, kEnd: 2 },
  fields: [
    { key: 'kStart', label: 'k at start' },
    { key: 'kEnd', label: 'k at end' },
  ],
  summary: (r) => `top-k ${r.kStart}→${r.kEnd}`,
  tokenChoice: true,
  variableK: false,
  // Chen et al., 2023 mix the chosen experts like top-k over a frozen router.
  defaultGate: (r) => r.gate ?? 'renormalize',
  maxChoices: (r, s) => Math.min(s.slots, Math.max(r.kStart, r.kEnd) * s.segments),
  ffnPerToken: (r, s) => Math.min(s.ffnExperts, r.kEnd * s.segments),
  ffnAssignments: (r, s, tokens) => tokenChoiceAssignments(r.kEnd * s.segments, s, tokens),
  validate: (r, s) => {
    const out: RoutingIssue[] = [];
    if (r.kEnd < r.kStart) out.push({ field: 'routing.kEnd', message: `kEnd (${r.kEnd}) must be ≥ kStart (${r.kStart})` });
    if (r.kEnd * s.segments > s.slots) out.push({ field: 'routing.kEnd', message: `kEnd=${r.kEnd} activates ${r.kEnd * s.segments} experts, more than the ${s.slotText}` });
    return out;
  },
};
