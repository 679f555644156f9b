/**
 * Every routing mode's descriptor, by mode: the one place a routing mode is registered on the space floor.
 * The SearchSpace's `routing` schema is the union of their schemas; the editor's mode menu and fields,
 * validation and the FLOPs / memory estimates read them from here. Each mode's tf implementation is the
 * router of the same name in core/nn/routers/registry.ts (its `Record<RoutingMode, Router>` type makes a
 * missing one a type error).
 */
import { z } from 'zod';
import type { RoutingDescriptor } from './descriptor.js';
import { expertChoice, ExpertChoiceRouting } from './expertChoice.js';
import { mixer, MixerRouting } from './mixer.js';
import { rmoe, RMoERouting } from './rmoe.js';
import { prototype, PrototypeRouting } from './prototype.js';
import { similarity, SimilarityRouting } from './similarity.js';
import { smoeDropout, SMoEDropoutRouting } from './smoeDropout.js';
import { topk, TopKRouting } from './topk.js';
import { topp, TopPRouting } from './topp.js';

export const Routing = z.discriminatedUnion('mode', [TopKRouting, TopPRouting, ExpertChoiceRouting, SMoEDropoutRouting, MixerRouting, RMoERouting, SimilarityRouting, PrototypeRouting]);
export type Routing = z.infer<typeof Routing>;
export type RoutingInput = z.input<typeof Routing>;
export type RoutingMode = Routing['mode'];
export type RoutingOf<M extends RoutingMode> = Extract<Routing, { mode: M }>;

export const routingDescriptors: { [M in RoutingMode]: RoutingDescriptor<RoutingOf<M>> } = {
  topk,
  topp,
  'expert-choice': expertChoice,
  'smoe-dropout': smoeDropout,
  mixer,
  rmoe,
  similarity,
  prototype,
};

export const ROUTING_MODES = Object.keys(routingDescriptors) as RoutingMode[];

/** The descriptor of a routing (typed on the union: each descriptor accepts its own mode's routing). */
export function describeRouting(r: Routing): RoutingDescriptor<Routing> {
  return routingDescriptors[r.mode] as unknown as RoutingDescriptor<Routing>;
}
