/**
 * The names (and one-line descriptions) of the pluggable strategies, at the protocol's floor so the
 * schema, the editor and the CLI read them from one place. Each name has exactly one implementing module,
 * tied by the registries' `Record<name, …>` types (core/train/strategies/registry.ts,
 * core/search/strategies/registry.ts): adding a strategy is its module, its line here and its registry line.
 */
export const TRAINING_STRATEGIES = {
  plain: 'one fixed subnet (the arch given, else the largest): an ordinary training run',
  spos: 'Single Path One-Shot (Guo et al., 2020): one subnet drawn uniformly per step',
  sandwich: 'sandwich rule (US-Nets / BigNAS): largest, smallest and two random subnets per step',
  bignas: 'BigNAS (Yu et al., 2020): the sandwich rule with inplace distillation from the largest subnet\'s soft labels',
  attentivenas: 'AttentiveNAS (Wang et al., 2021): sandwich + inplace KD, middle subnets the best of 3 same-FLOPs candidates by mini-batch loss',
  'attentivenas-predictor': 'AttentiveNAS with its accuracy-predictor estimator: after a quarter of training a ridge predictor is fitted on 48 measured subnets, then the middle subnets are the best of 3 same-FLOPs candidates by predicted accuracy',
  ofa: 'Once-for-All progressive shrinking (Cai et al., 2020): full → elastic kernel → depth → width phases, channels sorted by L1 importance, KD from the full network frozen after the first phase',
  pada: 'PA&DA (Lu et al., 2023): paths and training samples drawn in proportion to their gradient norms, with importance weights',
  fewshot: 'few-shot NAS with gradient matching (Hu et al., 2022): after warm-up, split at the edge whose choices\' gradients disagree most into sub-supernets with their own weights',
  supertickets: 'SuperTickets (You et al., 2022): progressive magnitude pruning with regrowth during supernet training; every subnet inherits its sparse ticket',
  bmos: 'Balanced Mixture of SuperNets (Javan et al., 2023): K supernets, each architecture softly assigned by its accuracy in each, balanced so every supernet gets its share',
  darts: 'DARTS (Liu et al., 2019): mixed ops with architecture weights α, first-order bilevel train/validation, SD-DARTS self-distillation, then perturbation-based selection edge by edge (DARTS-PT) with fine-tuning',
} as const;
export type TrainingStrategyName = keyof typeof TRAINING_STRATEGIES;
export const TRAINING_STRATEGY_NAMES = Object.keys(TRAINING_STRATEGIES) as [TrainingStrategyName, ...TrainingStrategyName[]];

/** Subnet search strategies (core/search/strategies/), with the label the search form shows. */
export const SEARCH_STRATEGIES = {
  nsga2: { label: 'NSGA-II', about: 'NSGA-II (Deb et al., 2002): non-dominated sorting and crowding, pymoo operators' },
  evolution: { label: 'evolution', about: 'predictor-guided evolution (LINAS, Cummings et al., 2022): a learnt accuracy predictor picks whom to evaluate' },
  random: { label: 'random', about: 'random sampling of distinct canonical subnets: the baseline every strategy must beat' },
} as const;
export type SearchStrategyName = keyof typeof SEARCH_STRATEGIES;
export const SEARCH_STRATEGY_NAMES = Object.keys(SEARCH_STRATEGIES) as [SearchStrategyName, ...SearchStrategyName[]];
