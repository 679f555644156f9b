import { sampleArch } from '../../space/archCodec.js';
import type { TrainingStrategy } from './TrainingStrategy.js';

/**
 * The sandwich rule (Yu & Huang, Universally Slimmable Networks, 2019; BigNAS, Yu et al., 2020): per step
 * the largest, the smallest and n = 2 random subnets, gradients summed before one update. The first random
 * subnet is reported: the largest and smallest are the same every step. (Inplace distillation, the other
 * half of US-Nets/BigNAS training, is a separate strategy.)
 */
export const SANDWICH_RANDOM = 2;

export const sandwich: TrainingStrategy = {
  name: 'sandwich',
  paper: 'Yu & Huang, Universally Slimmable Networks (2019); Yu et al., BigNAS (2020)',
  plan: ({ space, rng, largest, smallest }) => ({
    arches: [largest, smallest, ...Array.from({ length: SANDWICH_RANDOM }, () => sampleArch(space, rng))],
    reported: 2,
  }),
};
