/** Every search strategy, by name: the one place a strategy is registered. */
import type { SearchStrategyName } from '../../protocol/strategyNames.js';
import { evolution } from './evolution.js';
import { nsga2 } from './nsga2.js';
import { random } from './random.js';
import type { SearchStrategy } from './SearchStrategy.js';

export const searchStrategies: Record<SearchStrategyName, SearchStrategy> = { nsga2, evolution, random };
