/**
 * The schema half of the Router contract: what a routing mode is as a document — its zod schema with the
 * paper's defaults, its editor fields, and the plain arithmetic the space floor needs (validation, nominal
 * experts per token for FLOPs / memory estimates, the capacity bound). Pure zod, no tf, so core/space
 * (floor 0) can assemble the SearchSpace schema from it.
 *
 * The split (as core/protocol/strategyNames.ts does for strategies): each mode has a descriptor here
 * (core/space/routing/<mode>.ts, listed in ./registry.ts) and one tf implementation in
 * core/nn/routers/<mode>.ts, tied by the `Record<RoutingMode, Router>` type of core/nn/routers/registry.ts.
 * Adding a router is those two files plus one line in each registry.
 */
import { z } from 'zod';

/**
 * How the gates of a token's chosen experts combine: 'raw' uses each chosen expert's router probability
 * (Switch Transformer, Fedus et al., 2021; DeepSeekMoE, Dai et al., 2024; top-p, Huang et al., 2024),
 * 'renormalize' divides them by their sum over the chosen experts that compute (GShard top-2, Lepikhin
 * et al., 2021; Mixtral; AdaMoE and MoE++ leave null / zero experts out of the sum, as their code does).
 */
export const GateCombination = z.enum(['raw', 'renormalize']);
export type GateCombination = z.infer<typeof GateCombination>;

export const positiveInt = z.number().int().min(1);

/** The numbers of an MoE block a routing's arithmetic needs (no SearchSpace import: no cycle). */
export interface RoutingShape {
  /** DeepSeekMoE fine-grained segments per expert (m). */
  segments: number;
  /** FFN experts among the router's columns (E·m). */
  ffnExperts: number;
  /** Every router column (FFN + null / zero / copy / constant). */
  slots: number;
  /** The block's token-choice capacity factor (null: no limit). */
  capacityFactor: number | null;
  /** How the slots read in a message, e.g. "6 routable slots (2×2 routed + 2 null/zero/copy/constant)". */
  slotText: string;
}

/** A field of the routing in the stage editor (renderer/src/views/StageEditor.tsx): a number, or a checkbox. */
export interface RoutingField {
  key: string;
  kind?: 'number' | 'check';
  label: string;
  hint?: string;
  step?: number;
}

export interface RoutingIssue {
  /** Field path relative to the block, e.g. "routing.k" or "capacityFactor". */
  field: string;
  message: string;
}

export interface RoutingDescriptor<R extends { mode: string } = { mode: string }> {
  mode: R['mode'];
  /** Short name for menus and summaries. */
  label: string;
  /** The paper it implements. */
  paper: string;
  /** A strict zod object with `mode: z.literal(mode)` and the paper's defaults. */
  schema: z.ZodType<R>;
  /** What the editor writes when the mode is picked (the schema fills the rest). */
  initial: { mode: R['mode'] } & Partial<R>;
  fields: readonly RoutingField[];
  /** One-line summary, e.g. "top-2". */
  summary(r: R): string;
  /**
   * Tokens choose their experts (capacity limits, the Switch balance loss and measured FFN use apply);
   * false for expert choice (experts choose tokens: balanced by construction, capacity in the routing).
   */
  tokenChoice: boolean;
  /** How many experts a token runs varies (top-p): FLOPs read the measured mean. */
  variableK: boolean;
  /** The gate combination when the routing sets none: the paper's default. */
  defaultGate(r: R, segments: number): GateCombination;
  /** Most slots one token can choose (bounds the capacity-rank loop and validation). */
  maxChoices(r: R, shape: RoutingShape): number;
  /**
   * The router's own cost at input width d over `slots` router columns, where it is not the plain x · W
   * (params d·S, 2·d·S FLOPs per token): RMoE's projection, GRU cell and read-out. For the space's estimates.
   */
  routerCost?(r: R, d: number, slots: number): { params: number; flops: number };
  /** FFN experts a token nominally runs (a bound; training measures the real mean). */
  ffnPerToken(r: R, shape: RoutingShape): number;
  /** FFN assignments of a batch of `tokens` (an upper bound, for the activation-memory estimate). */
  ffnAssignments(r: R, shape: RoutingShape, tokens: number): number;
  validate(r: R, shape: RoutingShape): RoutingIssue[];
  /**
   * Token-choice routers with the auxiliary-loss-free balancing option (DeepSeek-V3): the update rate u of
   * the per-expert selection bias (core/nn/routers/lossFreeBias.ts), 0 = off. Absent: no such option.
   */
  selectionBiasRate?(r: R): number;
}

/** Assignments of a token-choice routing that chooses at most `k` slots per token. */
export const tokenChoiceAssignments = (k: number, shape: RoutingShape, tokens: number) => tokens * Math.min(shape.ffnExperts, k);

/**
 * The arithmetic of a token-choice routing that takes a fixed top-k per segment (top-k and the routers that
 * choose like it: RMoE, similarity-aware, ProMoE): at most k·m slots per token, k·m FFN experts nominally,
 * and k·m must fit the block's slots.
 */
export const fixedTopKArithmetic = {
  maxChoices: (r: { k: number }, s: RoutingShape) => Math.min(s.slots, r.k * s.segments),
  ffnPerToken: (r: { k: number }, s: RoutingShape) => Math.min(s.ffnExperts, r.k * s.segments),
  ffnAssignments: (r: { k: number }, s: RoutingShape, tokens: number) => tokenChoiceAssignments(r.k * s.segments, s, tokens),
  validate: (r: { k: number }, s: RoutingShape): RoutingIssue[] =>
    r.k * s.segments > s.slots ? [{ field: 'routing.k', message: `k=${r.k} activates ${r.k * s.segments} experts after segmentation, more than the ${s.slotText}` }] : [],
};
