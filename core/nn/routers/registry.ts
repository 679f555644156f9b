/**
 * Every router, by routing mode: the one place a router's tf implementation is registered. The type ties
 * it to the descriptors of core/space/routing/registry.ts (schema, defaults, editor fields): a mode with a
 * descriptor and no router, or the reverse, does not compile.
 */
import type { Routing, RoutingMode, RoutingOf } from '../../space/routing/registry.js';
import { expertChoice } from './expertChoice.js';
import { mixer } from './mixer.js';
import { rmoe } from './rmoe.js';
import { prototype } from './prototype.js';
import { similarity } from './similarity.js';
import type { Router } from './router.js';
import { smoeDropout } from './smoeDropout.js';
import { topk } from './topk.js';
import { topp } from './topp.js';

export const routers: { [M in RoutingMode]: Router<RoutingOf<M>> } = {
  topk,
  topp,
  'expert-choice': expertChoice,
  'smoe-dropout': smoeDropout,
  mixer,
  rmoe,
  similarity,
  prototype,
};

/** The router of a routing (typed on the union: each router accepts its own mode's routing). */
export function routerOf(r: Routing): Router<Routing> {
  return routers[r.mode] as unknown as Router<Routing>;
}
