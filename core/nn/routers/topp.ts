/** Top-p dynamic routing (Huang et al., 2024), with its entropy ("dynamic") loss. */
import type { TopPRouting } from '../../space/routing/topp.js';
import { topPMaskTensor } from '../moe/routers.js';
import { plainKernel, type Router } from './router.js';

export const topp: Router<TopPRouting> = {
  mode: 'topp',
  trainsKernel: true,
  fusable: false,
  // No fixed k: capacity uses the batch's mean number of choices (router.ts route).
  activeK: () => null,
  select: (probs, r, l) => topPMaskTensor(probs, r.p, r.maxK ?? l.shape.slots),
  auxLosses: (r, { entropy }) => (r.entropyLossWeight > 0 ? [{ name: 'entropy', weight: r.entropyLossWeight, value: entropy }] : []),
  lower: (r, l, kernel) => ({ gating: { mode: 'topp', p: r.p, maxK: r.maxK ?? l.shape.slots }, router: plainKernel(kernel) }),
};
