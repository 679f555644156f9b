/** Every training strategy, by name: the one place a strategy is registered. */
import type { TrainingStrategyName } from '../../protocol/strategyNames.js';
import { plain } from './plain.js';
import { sandwich } from './sandwich.js';
import { spos } from './spos.js';
import type { TrainingStrategy } from './TrainingStrategy.js';

export const trainingStrategies: Record<TrainingStrategyName, TrainingStrategy> = { plain, spos, sandwich };

export function trainingStrategy(name: TrainingStrategyName): TrainingStrategy {
  return trainingStrategies[name];
}
