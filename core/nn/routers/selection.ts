/**
 * The subnet graph's selection ops (core/nn/subnetLayers.ts SubnetGating: top-k, top-p, expert choice) on
 * plain arrays: the reference arithmetic runSubnetLayers runs and every router lowers to (./router.ts
 * `lower`), the same rules as the tensor masks training uses (core/nn/moe/routers.ts).
 */
import { expertCapacity } from '../../space/routing/expertChoice.js';
import { expertChoiceMask, topKMask, topPMask, type RouteMask } from '../moe/routers.js';
import type { SubnetGating } from '../subnetLayers.js';

const selections: { [M in SubnetGating['mode']]: (g: Extract<SubnetGating, { mode: M }>, probs: ArrayLike<number>, T: number, S: number) => RouteMask } = {
  topk: (g, p, T, S) => topKMask(p, T, S, g.k),
  topp: (g, p, T, S) => topPMask(p, T, S, g.p, g.maxK),
  'expert-choice': (g, p, T, S) => expertChoiceMask(p, T, S, expertCapacity(g.capacityFactor, T, S)),
};

/** The [T, S] choice of a lowered router on row-major probabilities. */
export function selectionMask(g: SubnetGating, probs: ArrayLike<number>, tokens: number, slots: number): RouteMask {
  return (selections[g.mode] as (g: SubnetGating, p: ArrayLike<number>, T: number, S: number) => RouteMask)(g, probs, tokens, slots);
}
