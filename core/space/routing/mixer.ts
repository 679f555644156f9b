/**
 * MixER, Mixture of Expert Reconstructors ("Towards foundational models for dynamical system reconstruction:
 * hierarchical meta-learning via mixture of experts", 2025): a sparse top-1 layer whose
 * gate is not trained by gradient descent but by K-means — each token goes to the nearest of S centroids
 * (one per slot), and the centroids follow the features routed to them.
 *
 * Deviations, stated: the paper clusters its context vectors and fits the gating weights to the cluster
 * labels by least squares; here the centroids live in the router's own input space (the block's input,
 * sliced to the subnet's width, as the router kernel is) and routing is the nearest centroid directly
 * (which is what the least-squares gate approximates). The K-means step is a mini-batch one: a centroid
 * moves to decay·c + (1 − decay)·mean(features routed to it) (decay 0: one Lloyd step per batch; a centroid
 * that got no token restarts on a far token, `restartDead`). The paper runs K-means per step without a
 * decay; 0.9 here keeps a small batch's noise out of the centroids. The gate of the chosen expert is 1 (top-1, renormalised).
 */
import { z } from 'zod';
import type { RoutingDescriptor } from './descriptor.js';

export const MixerRouting = z
  .object({
    mode: z.literal('mixer'),
    /** EMA decay of the centroids' K-means step, in [0, 1): 0 = move to the batch mean of the routed features. */
    decay: z.number().min(0).lt(1).default(0.9),
    /**
     * A centroid that no token of a training batch chose is moved onto the token of the largest cluster
     * farthest from its centroid, splitting that cluster (deviation: the paper does not say how it treats
     * empty clusters; without this, centroids initialised away from the data stay dead).
     */
    restartDead: z.boolean().default(true),
  })
  .strict();
export type MixerRouting = z.infer<typeof MixerRouting>;

export const mixer: RoutingDescriptor<MixerRouting> = {
  mode: 'mixer',
  label: 'MixER (k-means)',
  paper: 'MixER: Mixture of Expert Reconstructors (2025)',
  schema: MixerRouting,
  initial: { mode: 'mixer', decay: 0.9 },
  fields: [
    { key: 'decay', label: 'Centroid EMA decay', hint: 'K-means step: c ← decay·c + (1−decay)·mean', step: 0.05 },
    { key: 'restartDead', kind: 'check', label: 'Restart empty clusters', hint: 'split the largest cluster' },
  ],
  summary: (r) => `MixER top-1 (decay ${r.decay})`,
  tokenChoice: true,
  variableK: false,
  // Top-1 with gate 1: the chosen expert's output is used as is.
  defaultGate: () => 'renormalize',
  maxChoices: (_r, s) => Math.min(s.slots, s.segments),
  ffnPerToken: (_r, s) => Math.min(s.ffnExperts, s.segments),
  ffnAssignments: (_r, s, tokens) => tokens * Math.min(s.ffnExperts, s.segments),
  validate: () => [],
};
