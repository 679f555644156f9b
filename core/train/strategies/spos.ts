import { sampleArch } from '../../space/archCodec.js';
import type { TrainingStrategy } from './TrainingStrategy.js';

/** Single Path One-Shot (Guo et al., ECCV 2020): one subnet drawn uniformly from the space per step. */
export const spos: TrainingStrategy = {
  name: 'spos',
  paper: 'Guo et al., Single Path One-Shot Neural Architecture Search with Uniform Sampling (2020)',
  plan: ({ space, rng }) => ({ arches: [sampleArch(space, rng)], reported: 0 }),
};
