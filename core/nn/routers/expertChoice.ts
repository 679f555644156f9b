/**
 * Expert choice (Zhou et al., 2022): each slot takes its round(cf·T/S) most probable tokens of the batch;
 * with `maxExpertsPerToken`, the paper's capped variant (./cappedExpertChoice.ts).
 */
import { expertCapacity, type ExpertChoiceRouting } from '../../space/routing/expertChoice.js';
import { expertChoiceMaskTensor } from '../moe/routers.js';
import { cappedExpertChoiceMaskTensor, DEFAULT_CAP_ENTROPY, DEFAULT_CAP_ITERATIONS, type ExpertCap } from './cappedExpertChoice.js';
import { plainKernel, type Router } from './router.js';

/** The cap of a routing, or null where it is uncapped. */
export function expertCap(r: ExpertChoiceRouting): ExpertCap | null {
  return r.maxExpertsPerToken ? { maxPerToken: r.maxExpertsPerToken, entropy: r.capEntropy ?? DEFAULT_CAP_ENTROPY, iterations: r.capIterations ?? DEFAULT_CAP_ITERATIONS } : null;
}

export const expertChoice: Router<ExpertChoiceRouting> = {
  mode: 'expert-choice',
  trainsKernel: true,
  fusable: false,
  activeK: () => null,
  select: (probs, r, l) => {
    const c = expertCapacity(r.capacityFactor, probs.shape[0], l.shape.slots);
    const cap = expertCap(r);
    return cap ? cappedExpertChoiceMaskTensor(probs, c, cap) : expertChoiceMaskTensor(probs, c);
  },
  lower: (r, _l, kernel) => {
    const cap = expertCap(r);
    return { gating: { mode: 'expert-choice', capacityFactor: r.capacityFactor, ...(cap ? { cap } : {}) }, router: plainKernel(kernel) };
  },
};
