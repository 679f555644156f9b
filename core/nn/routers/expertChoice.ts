/** Expert choice (Zhou et al., 2022): each slot takes its round(cf·T/S) most probable tokens of the batch. */
import { expertCapacity, type ExpertChoiceRouting } from '../../space/routing/expertChoice.js';
import { expertChoiceMaskTensor } from '../moe/routers.js';
import { plainKernel, type Router } from './router.js';

export const expertChoice: Router<ExpertChoiceRouting> = {
  mode: 'expert-choice',
  trainsKernel: true,
  fusable: false,
  activeK: () => null,
  select: (probs, r, l) => expertChoiceMaskTensor(probs, expertCapacity(r.capacityFactor, probs.shape[0], l.shape.slots)),
  lower: (r, _l, kernel) => ({ gating: { mode: 'expert-choice', capacityFactor: r.capacityFactor }, router: plainKernel(kernel) }),
};
