import type { TrainingStrategy } from './TrainingStrategy.js';

/** One fixed subnet every step: an ordinary (non-weight-sharing) training run. */
export const plain: TrainingStrategy = {
  name: 'plain',
  paper: 'standalone training',
  plan: ({ evalArch }) => ({ arches: [evalArch], reported: 0 }),
};
