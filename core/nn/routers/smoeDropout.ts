/**
 * SMoE-Dropout (Chen et al., 2023): a random router that is never trained (a non-trainable kernel); k grows
 * linearly from kStart to kEnd with training progress and is kEnd at inference (and in export).
 */
import type { SMoEDropoutRouting } from '../../space/routing/smoeDropout.js';
import { topKMaskTensor } from '../moe/routers.js';
import { plainKernel, type RouteOptions, type Router, type RouterLayer } from './router.js';

function k(r: SMoEDropoutRouting, l: RouterLayer, opts: RouteOptions): number {
  const progress = opts.training ? Math.min(1, Math.max(0, opts.progress ?? 0)) : 1;
  return Math.round(r.kStart + (r.kEnd - r.kStart) * progress) * l.shape.segments;
}

export const smoeDropout: Router<SMoEDropoutRouting> = {
  mode: 'smoe-dropout',
  trainsKernel: false,
  fusable: false,
  activeK: k,
  select: (probs, r, l, opts) => topKMaskTensor(probs, k(r, l, opts)),
  lower: (r, l, kernel) => ({ gating: { mode: 'topk', k: r.kEnd * l.shape.segments }, router: plainKernel(kernel) }),
};
