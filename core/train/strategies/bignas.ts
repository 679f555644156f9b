import { inplaceDistillation } from './distillation.js';
import { sandwich } from './sandwich.js';
import type { TrainingStrategy } from './TrainingStrategy.js';

/**
 * BigNAS (Yu et al., 2020, §3.1): the sandwich rule (largest, smallest, two random subnets per step) with
 * inplace distillation: the largest learns from the labels, the others from its soft labels (distillation.ts).
 * Deviations: no label smoothing on the largest, no regularisation only on the largest, no
 * batch-norm zero-init of residual blocks and no exponential LR schedule (the trainer's optimizer is used).
 */
export const bignas: TrainingStrategy = {
  name: 'bignas',
  paper: 'Yu et al., BigNAS: Scaling Up Neural Architecture Search with Big Single-Stage Models (2020)',
  plan: sandwich.plan,
  loss: (input) => inplaceDistillation(input),
};
