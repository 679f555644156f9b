/** Top-k softmax routing (Shazeer et al., 2017; Switch, Fedus et al., 2021; GShard, Lepikhin et al., 2021). */
import type { TopKRouting } from '../../space/routing/topk.js';
import { topKMaskTensor } from '../moe/routers.js';
import { plainKernel, type Router } from './router.js';

export const topk: Router<TopKRouting> = {
  mode: 'topk',
  trainsKernel: true,
  fusable: true,
  activeK: (r, l) => r.k * l.shape.segments,
  select: (probs, r, l) => topKMaskTensor(probs, r.k * l.shape.segments),
  lower: (r, l, kernel) => ({ gating: { mode: 'topk', k: r.k * l.shape.segments }, router: plainKernel(kernel) }),
};
