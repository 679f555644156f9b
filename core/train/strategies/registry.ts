/** Every training strategy, by name: the one place a strategy is registered. */
import { buildSupernet } from '../../nn/Supernet.js';
import type { Supernet } from '../../nn/types.js';
import type { TrainConfig } from '../../protocol/protocol.js';
import type { TrainingStrategyName } from '../../protocol/strategyNames.js';
import { fewshot } from './fewshot.js';
import { attentivenas, attentivenasPredictor } from './attentivenas.js';
import { bignas } from './bignas.js';
import { bmos } from './bmos.js';
import { darts } from './darts.js';
import { ofa } from './ofa.js';
import { pada } from './pada.js';
import { plain } from './plain.js';
import { sandwich } from './sandwich.js';
import { spos } from './spos.js';
import { supertickets } from './supertickets.js';
import type { TrainingStrategy } from './TrainingStrategy.js';

export const trainingStrategies: Record<TrainingStrategyName, TrainingStrategy> = { plain, spos, sandwich, bignas, attentivenas, 'attentivenas-predictor': attentivenasPredictor, ofa, pada, fewshot, supertickets, bmos, darts };

export function trainingStrategy(name: TrainingStrategyName): TrainingStrategy {
  return trainingStrategies[name];
}

/**
 * The network a run trains, searches and exports: its strategy's own (few-shot sub-supernets) built with
 * the checkpoint's strategy state when there is one, else the weight-sharing supernet.
 */
export function buildRunSupernet(config: Pick<TrainConfig, 'space' | 'seed' | 'strategy'>, state: unknown = null): Supernet {
  const s = trainingStrategy(config.strategy);
  return s.buildNet ? s.buildNet(config.space, config.seed, state ?? null) : buildSupernet(config.space, { seed: config.seed });
}
