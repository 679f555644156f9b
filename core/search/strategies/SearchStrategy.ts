/**
 * The search-strategy contract (NNI's strategy plug-ins are the model): a strategy runs over a Problem
 * that evaluates canonical architecture vectors (with the manager's cache, progress and cancellation),
 * and calls `endGeneration` after each generation or round so the manager persists and reports.
 */
import type { Objective, SearchConfig } from '../../protocol/protocol.js';
import type { SearchStrategyName } from '../../protocol/strategyNames.js';
import type { Nsga2Problem } from '../nsga2.js';

export interface SearchRun {
  problem: Nsga2Problem;
  config: SearchConfig;
  /** Vectors every strategy evaluates first (largest and smallest subnet). */
  initial: number[][];
  signal: AbortSignal;
  endGeneration(generation: number): Promise<void>;
  /**
   * An objective's value without evaluating on data, where it is exact or modelled (params, FLOPs,
   * latency from the fitted table); undefined where only an evaluation can tell (accuracy).
   */
  cheapValue(objective: Objective, x: readonly number[]): Promise<number | undefined>;
}

export interface SearchStrategy {
  name: SearchStrategyName;
  run(search: SearchRun): Promise<void>;
}

/**
 * How far a value exceeds its constraint's maximum, relative to the maximum (0 when within), so
 * violations of constraints in different units (ms, parameter counts) add up comparably (Deb's
 * constraint-domination sums normalised violations).
 */
export function excess(v: number, max: number): number {
  if (!(v > max)) return 0;
  return (v - max) / Math.max(Math.abs(max), 1e-12);
}
