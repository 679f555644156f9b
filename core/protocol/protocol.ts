/**
 * The one protocol between the core and any client (Electron renderer, browser over WebSocket, CLI).
 *
 * Shape follows VS Code's IPC (src/vs/base/parts/ipc/common/ipc.ts): a client sends `call`, `cancel`,
 * `listen` and `dispose`; the host answers `result` / `error` for calls and `event` for subscriptions.
 * Every message and every method's params are validated with the schemas below at each boundary, and a
 * bad message is answered with an error naming the path of the bad field.
 */
import { z } from 'zod';
import { Arch, SearchSpace } from '../space/SearchSpace.js';
import { formatPath, issuesOf, ValidationIssue } from '../space/validationIssue.js';
import { SEARCH_STRATEGY_NAMES, TRAINING_STRATEGY_NAMES } from './strategyNames.js';
import { COMPRESS_METHOD_NAMES } from './compressMethodNames.js';

export { formatPath, issuesOf, ValidationIssue };

export const PROTOCOL_VERSION = 1;

// ---------------------------------------------------------------------------------------------------
// Domain records that cross the boundary (plain, serialisable numbers and strings only).

export const BackendName = z.enum(['tensorflow', 'webgpu', 'wasm', 'cpu']);
export type BackendName = z.infer<typeof BackendName>;
export const BackendChoice = z.union([BackendName, z.literal('auto')]);
export type BackendChoice = z.infer<typeof BackendChoice>;

export const BackendInfo = z.object({
  name: BackendName,
  /** What the backend runs on, e.g. the GPU adapter's description or "CPU (2 cores)". */
  device: z.string(),
  /** Backends that loaded on this host, in preference order. */
  available: z.array(BackendName),
  /** Why backends above the chosen one were passed over, and limits of the chosen one (e.g. why wasm runs 1 thread). */
  notes: z.array(z.string()).default([]),
});
export type BackendInfo = z.infer<typeof BackendInfo>;

/** The three splits: validation is carved from the training set (see core/data/Dataset.ts). */
export const DataSplit = z.enum(['train', 'val', 'test']);
export type DataSplit = z.infer<typeof DataSplit>;

/** An accuracy with the split and sample count it was measured on and its 95 % Wilson interval. */
export const AccuracyEstimate = z.object({
  split: DataSplit,
  accuracy: z.number(),
  n: z.number().int().min(0),
  ci95: z.tuple([z.number(), z.number()]),
});
export type AccuracyEstimate = z.infer<typeof AccuracyEstimate>;

/**
 * Share of the training set held out as the validation split (seeded, disjoint from what the trainer
 * sees); training curves and search select on it, the test split is kept for final reports. Absent:
 * DEFAULT_VAL_FRACTION (core/data/Dataset.ts).
 */
const valFraction = z.number().min(0.01).max(0.5).optional();

/** The synthetic sequence tasks (core/data/sequenceTasks.ts applies them). */
export const SequenceTaskName = z.enum(['copy', 'reverse', 'sort']);
export type SequenceTaskName = z.infer<typeof SequenceTaskName>;

export const DatasetConfig = z.discriminatedUnion('kind', [
  z
    .object({
      kind: z.literal('spirals'),
      classes: z.number().int().min(2).max(16).default(4),
      samples: z.number().int().min(64).max(200000).default(4000),
      noise: z.number().min(0).max(2).default(0.2),
      seed: z.number().int().default(1),
      valFraction,
    })
    .strict(),
  z
    .object({
      kind: z.literal('gaussians'),
      classes: z.number().int().min(2).max(64).default(6),
      samples: z.number().int().min(64).max(200000).default(4000),
      spread: z.number().min(0).max(10).default(0.6),
      seed: z.number().int().default(1),
      valFraction,
    })
    .strict(),
  z
    .object({
      kind: z.literal('fashion-mnist'),
      dir: z.string().default('/usr/share/datasets/fashion-mnist'),
      /** Use only the first N training images (0 = all). */
      limit: z.number().int().min(0).default(0),
      flatten: z.boolean().default(false),
      /** Cut each image into patch × patch tiles, one token each (ViT input; the space's input is tokens). */
      patch: z.number().int().min(1).max(28).optional(),
      valFraction,
    })
    .strict(),
  z
    .object({
      /** A character-level language-model corpus (core/data/textCorpus.ts), split by document. */
      kind: z.literal('text'),
      /** Folder of .txt files or fortune files (Debian's `fortunes` package by default). */
      dir: z.string().default('/usr/share/games/fortunes'),
      /** Characters per sample (the model's context). */
      seqLen: z.number().int().min(2).max(4096).default(64),
      /** Share of documents held out for validation and for test (absent: 0.05 each). */
      valFraction,
      testFraction: z.number().min(0.01).max(0.5).optional(),
      seed: z.number().int().default(1),
      /** Keep at most this many characters of each split (0 = all): short runs and tests. */
      maxChars: z.number().int().min(0).default(0),
    })
    .strict(),
  z
    .object({
      /** Copy / reverse / sort of a random string with the task hidden (core/data/sequenceTasks.ts). */
      kind: z.literal('sequence-tasks'),
      tasks: z.array(SequenceTaskName).min(1, 'give at least one task').default(['copy', 'reverse', 'sort']),
      /** Length of the input string; a sample is twice as long. */
      length: z.number().int().min(2).max(256).default(8),
      /** Alphabet size. */
      symbols: z.number().int().min(2).max(26).default(10),
      samples: z.number().int().min(64).max(200000).default(6000),
      seed: z.number().int().default(1),
      valFraction,
    })
    .strict(),
]);
export type DatasetConfig = z.infer<typeof DatasetConfig>;

export const Strategy = z.enum(TRAINING_STRATEGY_NAMES);
export type Strategy = z.infer<typeof Strategy>;

export const TrainConfig = z
  .object({
    name: z.string().max(120).optional(),
    space: SearchSpace,
    data: DatasetConfig,
    strategy: Strategy.default('spos'),
    /** For strategy 'plain': the fixed architecture to train (default: the largest). */
    arch: Arch.optional(),
    steps: z.number().int().min(1).max(10_000_000).default(500),
    batchSize: z.number().int().min(1).max(65536).default(128),
    learningRate: z.number().gt(0).max(10).default(0.003),
    /** Rescale the step's gradients to this global L2 norm when they exceed it (language models: 1.0). */
    gradClip: z.number().gt(0).optional(),
    /** Linear warm-up over `warmupSteps`, then cosine decay to learningRate · minRatio at the last step (nanoGPT). */
    lrSchedule: z
      .object({ kind: z.literal('cosine'), warmupSteps: z.number().int().min(0).default(0), minRatio: z.number().min(0).max(1).default(0.1) })
      .strict()
      .optional(),
    optimizer: z.enum(['adam', 'sgd', 'momentum']).default('adam'),
    seed: z.number().int().default(1),
    backend: BackendChoice.default('auto'),
    /** Evaluate on held-out data every N steps. */
    evalEvery: z.number().int().min(1).default(50),
    checkpointEvery: z.number().int().min(1).default(100),
    /**
     * BAM upcycling (issue 15, core/train/upcycle.ts): trained runs (same space, typically one-expert MoE
     * blocks = dense FFNs) whose FFNs initialise this run's experts (expert k ← run k mod R), fresh routers,
     * other weights averaged. The lineage of the run.
     */
    upcycleFrom: z.array(z.string().min(1)).min(1).max(64).optional(),
  })
  .strict();
export type TrainConfig = z.infer<typeof TrainConfig>;
export type TrainConfigInput = z.input<typeof TrainConfig>;

/** 'damaged': the run's folder is there but its run.json cannot be read (the summary's `error` says why). */
export const RunStatus = z.enum(['queued', 'running', 'completed', 'stopped', 'failed', 'interrupted', 'damaged']);
export type RunStatus = z.infer<typeof RunStatus>;

export const RunSummary = z.object({
  id: z.string(),
  name: z.string(),
  createdAt: z.string(),
  status: RunStatus,
  strategy: Strategy,
  step: z.number().int(),
  steps: z.number().int(),
  backend: z.string(),
  device: z.string(),
  spaceName: z.string(),
  dataKind: z.string(),
  lastLoss: z.number().nullable(),
  lastAccuracy: z.number().nullable(),
  bestValAccuracy: z.number().nullable(),
  /**
   * The evaluated subnet's validation score: on the whole validation split when the run completed,
   * else its last curve point (absent in runs from before validation splits).
   */
  finalVal: AccuracyEstimate.optional(),
  /**
   * Token datasets: the whole validation split's cross-entropy in bits per token (per character for text) and
   * perplexity over n scored tokens, beside the unigram baseline of a text corpus on the same targets.
   */
  finalTokens: z
    .object({ split: z.literal('val'), bitsPerToken: z.number(), perplexity: z.number(), n: z.number().int(), unigramBitsPerToken: z.number().optional() })
    .optional(),
  /** Its score on the whole test split, when the run was asked for a final report (the CLI). */
  test: AccuracyEstimate.optional(),
  error: z.string().optional(),
  /** The job-queue worker training it (`switchyard worker`); absent for runs trained by this host. */
  worker: z.string().optional(),
  /** Its BullMQ job id when it runs as a job (core/queue). */
  jobId: z.string().optional(),
  /** The user's labels (runs.update); kept in the run's labels.json, so a training process never overwrites them. */
  tags: z.array(z.string()).optional(),
});
export type RunSummary = z.infer<typeof RunSummary>;

/** A run's user labels: its name and tags (plain text, bounded). */
export const RunLabels = z
  .object({
    name: z.string().trim().min(1).max(200).optional(),
    tags: z.array(z.string().trim().min(1).max(40)).max(20).optional(),
  })
  .strict();
export type RunLabels = z.infer<typeof RunLabels>;

/** Per MoE layer, per point: where tokens went. Expert slots: routed, then null/zero/copy/constant. */
export const ExpertLoad = z.object({
  layer: z.string(),
  /** Fraction of routing assignments per expert slot (sums to ~1). */
  load: z.array(z.number()),
  expertNames: z.array(z.string()),
  /** Fraction of assignments dropped by the capacity limit. */
  dropped: z.number(),
  /** Mean per-token router entropy (nats). */
  entropy: z.number(),
  /** The layer's unweighted balance loss; null where the routing has none (expert choice). */
  auxLoss: z.number().nullable(),
  /** Mean experts active per token (top-p and null experts make it vary). */
  meanActive: z.number(),
  /** The collapse alarm (core/train/routingMetrics.ts) fired: dead experts, low diversity, drops or one dominant expert. */
  collapse: z.boolean(),
  /** Why the alarm fired, e.g. "5 of 8 experts dead; 53 % dropped" (present when `collapse`). */
  collapseReason: z.string().optional(),
  /** Routing metrics over the routed slots (shared experts left out; absent in runs recorded before them): */
  /** coefficient of variation of the load, std / mean (0 = balanced). */
  cv: z.number().optional(),
  /** Share of routed experts that got no assignment. */
  deadFraction: z.number().optional(),
  /** Expert diversity exp(H(load)) / N: effective experts in use as a share of N (1 = balanced). */
  diversity: z.number().optional(),
  /**
   * At validation points: the share of the fixed probe's tokens (core/train/routingFluctuation.ts) whose top
   * expert changed since the previous validation (routing fluctuation, Nguyen et al., 2025).
   */
  fluctuation: z.number().optional(),
});
export type ExpertLoad = z.infer<typeof ExpertLoad>;

export const MetricPoint = z.object({
  step: z.number().int(),
  /** Seconds since the run started (wall clock, excluding time stopped). */
  time: z.number(),
  loss: z.number(),
  accuracy: z.number(),
  valLoss: z.number().optional(),
  /** Accuracy on `valSamples` samples of the validation split, with its 95 % Wilson interval. */
  valAccuracy: z.number().optional(),
  valSamples: z.number().int().optional(),
  valCi95: z.tuple([z.number(), z.number()]).optional(),
  /** Token datasets: validation cross-entropy in bits per token (bits per character for text) over `valSamples` scored tokens, and its perplexity. */
  valBitsPerToken: z.number().optional(),
  valPerplexity: z.number().optional(),
  stepMs: z.number(),
  samplesPerSec: z.number(),
  etaSec: z.number(),
  /** The subnet trained at this step (supernet strategies), as an encoded vector. */
  archVector: z.array(z.number()).optional(),
  /** Mean knowledge-distillation loss of the step's distilled subnets (inplace KD strategies); `loss` stays the task loss. */
  kdLoss: z.number().optional(),
  /** The training strategy's numbers for its view, at validation points (e.g. PA&DA's sampling distribution). */
  strategy: z.record(z.string(), z.union([z.number(), z.array(z.number())])).optional(),
  moe: z.array(ExpertLoad).optional(),
});
export type MetricPoint = z.infer<typeof MetricPoint>;

/** Class × expert routing counts on a held-out batch, and for 2-D data the plane coloured by expert. */
/**
 * Mixture-of-Supernets (core/train/archMixing.ts): per architecture-routed block, probe architectures' features
 * (`features` labels, in [0, 1]) and mixing weights α, and the Pearson correlation [feature][set] across them.
 */
export const ArchMixing = z.object({
  features: z.array(z.string()),
  blocks: z.array(
    z.object({
      block: z.string(),
      archs: z.array(z.object({ features: z.array(z.number()), alpha: z.array(z.number()) })),
      correlation: z.array(z.array(z.number())),
    }),
  ),
});
export type ArchMixing = z.infer<typeof ArchMixing>;

export const Specialization = z.object({
  step: z.number().int(),
  classNames: z.array(z.string()),
  layers: z.array(
    z.object({
      layer: z.string(),
      expertNames: z.array(z.string()),
      /** counts[class][expert] */
      counts: z.array(z.array(z.number())),
      /** coact[e1][e2]: tokens that used both experts. */
      coactivation: z.array(z.array(z.number())),
      /**
       * transitions[e′][e]: held-out tokens whose top expert was e′ at the previous MoE layer of the forward and
       * is e here — the cross-layer routing correlation (RMoE's view, P(e | e′) by rows); absent for the first
       * MoE layer, or where the two layers route different tokens.
       */
      transitions: z.array(z.array(z.number())).optional(),
      /**
       * Routers with prototypes (ProMoE): held-out tokens and the prototypes, L2-normalised, on the tokens'
       * first two principal components (core/train/prototypePlane.ts); tokens as [pc1, pc2, top expert].
       */
      prototypePlane: z
        .object({ tokens: z.array(z.tuple([z.number(), z.number(), z.number().int()])), prototypes: z.array(z.tuple([z.number(), z.number()])), explained: z.number() })
        .optional(),
    }),
  ),
  /** SCMoE (core/train/selfContrastSweep.ts): the snapshot subnet's accuracy against the contrast strength β. */
  selfContrast: z
    .array(z.object({ beta: z.number(), accuracy: z.number(), n: z.number().int(), ci95: z.tuple([z.number(), z.number()]), split: z.string() }))
    .optional(),
  /** Mixture-of-Supernets blocks (core/train/archMixing.ts): mixing weights against the architecture features. */
  archMixing: ArchMixing.optional(),
  /** MomentumSMoE blocks (core/train/noiseRobustness.ts): accuracy under input noise σ, momentum on and off. */
  noiseRobustness: z
    .array(
      z.object({
        sigma: z.number(),
        momentum: z.object({ accuracy: z.number(), n: z.number().int(), ci95: z.tuple([z.number(), z.number()]) }),
        plain: z.object({ accuracy: z.number(), n: z.number().int(), ci95: z.tuple([z.number(), z.number()]) }),
        split: z.string(),
      }),
    )
    .optional(),
  plane: z
    .object({
      xMin: z.number(),
      xMax: z.number(),
      yMin: z.number(),
      yMax: z.number(),
      size: z.number().int(),
      /** Per layer, size×size top expert index, row-major from (xMin, yMin). */
      experts: z.array(z.array(z.number().int())),
      /** size×size predicted class. */
      predicted: z.array(z.number().int()),
      points: z.array(z.tuple([z.number(), z.number(), z.number().int()])).optional(),
    })
    .optional(),
});
export type Specialization = z.infer<typeof Specialization>;

export const RunRecord = z.object({
  summary: RunSummary,
  config: TrainConfig,
  backend: BackendInfo.optional(),
});
export type RunRecord = z.infer<typeof RunRecord>;

/** Search objectives; 'bits' is the subnet's size as stored (weights at their blocks' `bits` choice, codes + steps), core/nn/graph/storage.ts. */
export const Objective = z.enum(['accuracy', 'latency', 'params', 'flops', 'bits']);
export type Objective = z.infer<typeof Objective>;

export const SearchConfig = z
  .object({
    runId: z.string().min(1),
    strategy: z.enum(SEARCH_STRATEGY_NAMES).default('nsga2'),
    /** First objective is maximised (accuracy); the others minimised. */
    objectives: z.array(Objective).min(2).max(3).default(['accuracy', 'latency']),
    population: z.number().int().min(4).max(1000).default(16),
    generations: z.number().int().min(1).max(1000).default(5),
    /** Constraints such as latency ≤ budget, in the objective's unit (ms, count, FLOPs). */
    constraints: z
      .array(z.object({ objective: Objective, max: z.number() }).strict())
      .default([]),
    /** Validation samples scored per subnet (capped at the validation split's size). */
    evalSamples: z.number().int().min(32).max(100000).default(5000),
    seed: z.number().int().default(1),
  })
  .strict();
export type SearchConfig = z.infer<typeof SearchConfig>;
export type SearchConfigInput = z.input<typeof SearchConfig>;

/**
 * A latency model's own check (core/search/LatencyTable.ts): its error on subnets timed but not used
 * to fit it. A table that fails is used for the search at hand but never stored for reuse.
 */
export const LatencyModelCheck = z.object({
  /** Mean absolute % error of predicted vs measured latency on the held-out subnets (null: none predictable). */
  mapePct: z.number().nullable(),
  /** Kendall τ-b between predicted and measured latency on the held-out subnets (null: undefined, e.g. ties only). */
  tau: z.number().nullable(),
  /** Held-out subnets. */
  n: z.number().int(),
  /** Subnets the model was fitted to. */
  fitN: z.number().int(),
  passed: z.boolean(),
  maxMapePct: z.number(),
  minTau: z.number(),
});
export type LatencyModelCheck = z.infer<typeof LatencyModelCheck>;

export const EvaluatedSubnet = z.object({
  id: z.number().int(),
  arch: Arch,
  vector: z.array(z.number()),
  accuracy: z.number(),
  /** Where `accuracy` was measured (the validation split for search), on how many samples, its interval. */
  split: DataSplit.optional(),
  n: z.number().int().optional(),
  ci95: z.tuple([z.number(), z.number()]).optional(),
  latencyMs: z.number(),
  /** Latency predicted by the lookup table (its error vs the measurement is reported). */
  latencyLutMs: z.number().optional(),
  params: z.number(),
  flops: z.number(),
  /** Size in bits as stored (blocks' `bits` choices); absent in searches from before the objective (then 32 · params). */
  bits: z.number().optional(),
  generation: z.number().int(),
  feasible: z.boolean(),
  rank: z.number().int().optional(),
});
export type EvaluatedSubnet = z.infer<typeof EvaluatedSubnet>;

export const SearchSummary = z.object({
  id: z.string(),
  runId: z.string(),
  status: RunStatus,
  config: SearchConfig,
  evaluated: z.array(EvaluatedSubnet),
  /** ids of the non-dominated feasible subnets */
  front: z.array(z.number().int()),
  hypervolume: z.array(z.object({ generation: z.number().int(), value: z.number() })),
  /**
   * The run's hypervolume scale (stored once per run in <run>/searches/scale.json, so every search of
   * the run is scored on it): per cost objective the divisor, and the reference point in normalised units.
   */
  hvScale: z.object({ scales: z.record(z.string(), z.number()), ref: z.record(z.string(), z.number()) }).optional(),
  /** Caveats about what the numbers mean (e.g. a run trained before validation splits). */
  warnings: z.array(z.string()).optional(),
  lutErrorPct: z.number().optional(),
  /** Kendall τ-b between the table's predictions and the latencies measured in this search. */
  lutTau: z.number().optional(),
  /** The latency table's check: on its held-out subnets when fitted for this search, on subnets timed at the start when a stored table was reused. */
  latencyModel: LatencyModelCheck.extend({ fromCache: z.boolean() }).optional(),
  error: z.string().optional(),
});
export type SearchSummary = z.infer<typeof SearchSummary>;

/**
 * `switchyard rank`: how well inherited-weight accuracy ranks subnets the way standalone training does
 * (core/search/rankRun.ts). Persisted as <run>/rank.json.
 */
export const RankConfig = z
  .object({
    runId: z.string().min(1),
    /** Subnets, spread over the space by parameter count (smallest and largest included). */
    subnets: z.number().int().min(3).max(200).default(6),
    /** Standalone training steps per subnet and seed (from scratch, strategy 'plain'). */
    steps: z.number().int().min(1).max(1_000_000).default(300),
    /** Standalone trainings per subnet, seeds seed+1 … seed+R; R ≥ 2 gives the seed-to-seed noise floor. */
    seeds: z.number().int().min(1).max(10).default(2),
    /** Validation samples every score uses (0 = the whole validation split). */
    evalSamples: z.number().int().min(0).default(0),
    seed: z.number().int().default(1),
  })
  .strict();
export type RankConfig = z.infer<typeof RankConfig>;
export type RankConfigInput = z.input<typeof RankConfig>;

export const RankedSubnet = z.object({
  arch: Arch,
  vector: z.array(z.number()),
  params: z.number(),
  flops: z.number(),
  /** With the supernet's weights (BatchNorm re-estimated where the space has it). */
  inherited: AccuracyEstimate,
  /** Trained alone from scratch, one per seed done so far. */
  standalone: z.array(AccuracyEstimate.extend({ seed: z.number().int(), trainSec: z.number() })),
  /** Mean standalone accuracy over the seeds (null before the first). */
  standaloneMean: z.number().nullable(),
});
export type RankedSubnet = z.infer<typeof RankedSubnet>;

export const RankReport = z.object({
  runId: z.string(),
  status: RunStatus,
  config: RankConfig,
  createdAt: z.string(),
  updatedAt: z.string(),
  backend: z.string(),
  device: z.string(),
  /** Supernet checkpoint step the inherited weights come from. */
  supernetStep: z.number().int(),
  subnets: z.array(RankedSubnet),
  /** Kendall τ-b between inherited and mean standalone accuracy (null until two subnets are trained). */
  kendallTau: z.number().nullable(),
  spearmanRho: z.number().nullable(),
  /** τ-b between the standalone accuracies of each pair of seeds, and their mean: the noise floor. */
  seedTaus: z.array(z.number()),
  seedTau: z.number().nullable(),
  progress: z.object({ done: z.number().int(), total: z.number().int(), etaSec: z.number() }),
  /** Process writing the report while it runs (a CLI or the app's child), to tell running from cut off. */
  pid: z.number().int().optional(),
  error: z.string().optional(),
});
export type RankReport = z.infer<typeof RankReport>;

export const ExportFormat = z.enum(['tfjs', 'onnx', 'arch']);
/** A folder name the host creates under a run's folder: one plain name, never a path (a client never picks where on disk the host writes). */
export const PlainFolderName = z
  .string()
  .max(100)
  .regex(/^[\w.-]+$/, 'a plain folder name (letters, digits, _ . -)')
  .refine((n) => n !== '.' && n !== '..', 'a plain folder name, not . or ..');

export const ExportRequest = z
  .object({
    runId: z.string().min(1),
    arch: Arch,
    formats: z.array(ExportFormat).min(1).default(['tfjs', 'onnx', 'arch']),
    /**
     * Folder name under <run>/exports/ (default: a timestamp). Only a plain name: a client of the protocol
     * never chooses where on disk the host writes (the CLI's --out is the local user's own choice).
     */
    name: PlainFolderName.optional(),
  })
  .strict();
export type ExportRequest = z.infer<typeof ExportRequest>;
export const ExportResult = z.object({
  dir: z.string(),
  files: z.array(z.string()),
  /** Max |Δ| between the exported model's and the supernet path's outputs on a check batch. */
  maxAbsDiff: z.number().optional(),
  /** The model card's accuracies: validation (selection) and the whole test split (final report). */
  accuracy: z.array(AccuracyEstimate).optional(),
});
export type ExportResult = z.infer<typeof ExportResult>;

/** Compression (issue 15): one level of a method's sweep; each method reads the knobs it has. */
export const CompressLevel = z
  .object({
    /** Fraction of FFN experts kept after merging / pruning. */
    keep: z.number().gt(0).max(1).optional(),
    /** Weight bit width (quantisation). */
    bits: z.number().int().min(2).max(8).optional(),
    /** Rank kept, as a fraction of full rank. */
    rank: z.number().gt(0).max(1).optional(),
    /** Fraction of weights pruned (STUN's Wanda step) or kept sparse (MC-SMoE's S). */
    sparsity: z.number().min(0).lt(1).optional(),
    /** Fraction of each expert's hidden neurons kept (SlimMoE's expert slimming). */
    width: z.number().gt(0).max(1).optional(),
  })
  .strict();
export type CompressLevel = z.infer<typeof CompressLevel>;
export const CompressMethod = z.enum(COMPRESS_METHOD_NAMES);
export const CompressRequest = z
  .object({
    runId: z.string().min(1),
    arch: Arch,
    methods: z.array(CompressMethod).min(1).default([...COMPRESS_METHOD_NAMES]),
    /** Levels run for every method instead of each method's default sweep. */
    levels: z.array(CompressLevel).min(1).max(32).optional(),
    /** Validation samples the passes calibrate on (the first ones; the rest of the split scores). */
    calibSamples: z.number().int().min(8).max(20000).default(512),
    /** At most this many samples of each scored split (default: the rest of validation, all of test). */
    evalSamples: z.number().int().min(1).optional(),
    /** Score the test split too (the final report; selection uses validation). */
    test: z.boolean().default(true),
    /** Write each point as model.onnx (checked in onnxruntime-node). */
    onnx: z.boolean().default(true),
    /** Folder name under <run>/compress/ (default: a timestamp); a plain name, as for export. */
    name: PlainFolderName.optional(),
  })
  .strict();
export type CompressRequest = z.infer<typeof CompressRequest>;
export const CompressLayerReport = z.object({
  layer: z.string(),
  expertsBefore: z.number().int(),
  expertsAfter: z.number().int(),
  groups: z.array(z.array(z.number().int())).optional(),
  bitsPerExpert: z.array(z.number().nullable()).optional(),
  similarity: z.array(z.array(z.number())).optional(),
  spectrum: z.array(z.number()).optional(),
});
export type CompressLayerReport = z.infer<typeof CompressLayerReport>;
/** One compressed model: a point of the run's accuracy-vs-size view (method null: the uncompressed subnet). */
export const CompressPoint = z.object({
  method: CompressMethod.nullable(),
  level: CompressLevel,
  /** Validation (after the calibration samples), then test when scored. */
  accuracy: z.array(AccuracyEstimate),
  params: z.number(),
  bits: z.number(),
  /** Median forward latency at batch 1 on the host's backend; null when not measured. */
  latencyMs: z.number().nullable(),
  layers: z.array(CompressLayerReport),
  /** The exported model and its largest |Δlogit| against the graph evaluator. */
  onnx: z.object({ file: z.string(), maxAbsDiff: z.number() }).optional(),
});
export type CompressPoint = z.infer<typeof CompressPoint>;
export const CompressResult = z.object({
  runId: z.string(),
  arch: Arch,
  dir: z.string(),
  date: z.string(),
  calibration: z.object({ split: z.literal('val'), n: z.number().int() }),
  points: z.array(CompressPoint),
});
export type CompressResult = z.infer<typeof CompressResult>;


// Token-level views (issue 12): per validation token, the experts each MoE layer chose and their gates.
export const TokenRoutingRequest = z
  .object({
    runId: z.string().min(1),
    arch: Arch,
    /** First validation sample of the batch. */
    offset: z.number().int().min(0).default(0),
    /** Validation samples in the batch (one forward). */
    samples: z.number().int().min(1).max(64).default(8),
  })
  .strict();
export type TokenRoutingRequest = z.infer<typeof TokenRoutingRequest>;
/** One token's routing in one MoE layer: the slots it used (highest gate first) and their gates. */
export const TokenLayerRouting = z.object({ experts: z.array(z.number().int()), gates: z.array(z.number()) });
export type TokenLayerRouting = z.infer<typeof TokenLayerRouting>;
export const RoutedToken = z.object({
  /** Token id (character / symbol) or patch index. */
  id: z.number().int(),
  /** What the view prints: the character, the symbol, or the patch's index. */
  text: z.string(),
  /** One entry per TokenRouting.layers, same order. */
  layers: z.array(TokenLayerRouting),
});
export type RoutedToken = z.infer<typeof RoutedToken>;
export const TokenRouting = z.object({
  runId: z.string(),
  arch: Arch,
  split: z.literal('val'),
  /** 'character' (text corpus), 'symbol' (sequence task), 'patch' (image patches). */
  tokenKind: z.enum(['character', 'symbol', 'patch']),
  layers: z.array(z.object({ layer: z.string(), expertNames: z.array(z.string()) })),
  sequences: z.array(
    z.object({
      /** Index of the sample in the validation split. */
      sample: z.number().int(),
      /** The sample's group (a sequence task's hidden task), null where the data have none. */
      group: z.string().nullable(),
      tokens: z.array(RoutedToken),
      /** Patches only: the grid, and each patch's pixels (patch × patch, row-major) in token order. */
      patches: z.object({ rows: z.number().int(), cols: z.number().int(), size: z.number().int(), pixels: z.array(z.array(z.number())) }).optional(),
    }),
  ),
});
export type TokenRouting = z.infer<typeof TokenRouting>;
/** Text from a prompt with a causal LM run (core/train/generate.ts). */
export const GenerateRequest = z
  .object({
    runId: z.string().min(1),
    arch: Arch,
    prompt: z.string().min(1).max(4096),
    maxNewTokens: z.number().int().min(1).max(1000).default(200),
    /** 0 = greedy. */
    temperature: z.number().min(0).max(10).default(0),
    topK: z.number().int().min(0).default(0),
    seed: z.number().int().default(1),
  })
  .strict();
export type GenerateRequest = z.infer<typeof GenerateRequest>;
export const GenerateResult = z.object({
  prompt: z.string(),
  /** The generated continuation only (specials such as <eod> written as their names). */
  text: z.string(),
  tokens: z.array(z.number().int()),
  /** Prompt characters outside the run's vocabulary (read as <unk>). */
  unknownChars: z.array(z.string()),
});
export type GenerateResult = z.infer<typeof GenerateResult>;


// ---------------------------------------------------------------------------------------------------
// Methods (request → response) and events (subscription → stream).

const Empty = z.object({}).strict().default({});
const RunRef = z.object({ runId: z.string().min(1) }).strict();
/** Metric points per `runs.get` page: the default, and the most one message may carry. */
export const METRICS_PAGE_DEFAULT = 5000;
export const METRICS_PAGE_MAX = 20000;

export const methods = {
  'host.hello': {
    params: Empty,
    result: z.object({
      protocol: z.number(),
      version: z.string(),
      backend: BackendInfo.nullable(),
      runsDir: z.string(),
    }),
  },
  'space.examples': {
    params: Empty,
    result: z.array(z.object({ id: z.string(), title: z.string(), space: z.unknown() })),
  },
  'space.validate': {
    params: z.object({ space: z.unknown() }).strict(),
    result: z.object({
      ok: z.boolean(),
      issues: z.array(ValidationIssue),
      cardinality: z.number().nullable(),
      params: z.number().nullable(),
    }),
  },
  'runs.list': { params: Empty, result: z.array(RunSummary) },
  'runs.get': {
    // The metric history comes in pages (a 300k-step history in one message stalls every client):
    // points [offset, offset + limit × stride) of metrics.jsonl, every stride-th one.
    params: z
      .object({
        runId: z.string().min(1),
        offset: z.number().int().min(0).default(0),
        limit: z.number().int().min(1).max(METRICS_PAGE_MAX).default(METRICS_PAGE_DEFAULT),
        stride: z.number().int().min(1).default(1),
      })
      .strict(),
    result: z.object({
      record: RunRecord,
      metrics: z.array(MetricPoint),
      specialization: Specialization.nullable(),
      /** Lines in metrics.jsonl (a corrupt one is skipped, so a page may hold fewer points than it spans). */
      total: z.number().int(),
      /** Where the next page starts; null after the last one. */
      nextOffset: z.number().int().nullable(),
    }),
  },
  /** Rename or (re)tag a run; absent fields stay as they are. */
  'runs.update': { params: RunLabels.extend({ runId: z.string().min(1) }).strict(), result: RunSummary },
  /** Delete a run's folder (refused while it trains). */
  'runs.delete': { params: RunRef, result: z.object({ deleted: z.boolean() }) },
  'train.start': { params: TrainConfig, result: z.object({ runId: z.string() }) },
  'train.stop': { params: RunRef, result: z.object({ stopped: z.boolean() }) },
  'train.resume': { params: RunRef, result: z.object({ runId: z.string() }) },
  'search.start': { params: SearchConfig, result: z.object({ searchId: z.string() }) },
  'search.cancel': { params: z.object({ searchId: z.string() }).strict(), result: z.object({ cancelled: z.boolean() }) },
  'search.list': { params: RunRef, result: z.array(SearchSummary) },
  /** Ranking quality of a run's supernet (`switchyard rank`), in a child process; one per run at a time. */
  'rank.start': { params: RankConfig, result: z.object({ runId: z.string() }) },
  /** The run's stored rank report (rank.json), null when it has none. */
  'rank.get': { params: RunRef, result: RankReport.nullable() },
  'rank.cancel': { params: RunRef, result: z.object({ cancelled: z.boolean() }) },
  'export.subnet': { params: ExportRequest, result: ExportResult },
  /** Compress a subnet with each method's sweep (`switchyard compress`); stored under <run>/compress/. */
  'compress.run': { params: CompressRequest, result: CompressResult },
  /** The run's stored compression results, newest first (the Pareto view's extra points). */
  'compress.list': { params: RunRef, result: z.array(CompressResult) },
  /** Per validation token, each MoE layer's chosen experts and gates (one inference forward; token workloads). */
  'run.tokenRouting': { params: TokenRoutingRequest, result: TokenRouting },
  /** Continue a prompt with a causal language-model run's subnet (greedy or temperature sampling). */
  'run.generate': { params: GenerateRequest, result: GenerateResult },
} as const;

export const RunEvent = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('status'), runId: z.string(), summary: RunSummary }),
  z.object({ kind: z.literal('metrics'), runId: z.string(), points: z.array(MetricPoint) }),
  z.object({ kind: z.literal('specialization'), runId: z.string(), data: Specialization }),
  z.object({ kind: z.literal('log'), runId: z.string(), level: z.enum(['info', 'warn', 'error']), message: z.string() }),
  /** The run's folder is gone (runs.delete, or removed from the runs folder). */
  z.object({ kind: z.literal('removed'), runId: z.string() }),
]);
export type RunEvent = z.infer<typeof RunEvent>;

export const SearchEvent = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('progress'), searchId: z.string(), done: z.number(), total: z.number(), etaSec: z.number() }),
  z.object({ kind: z.literal('evaluated'), searchId: z.string(), subnets: z.array(EvaluatedSubnet) }),
  z.object({ kind: z.literal('summary'), searchId: z.string(), summary: SearchSummary }),
]);
export type SearchEvent = z.infer<typeof SearchEvent>;

export const events = {
  /** Run status, metric batches (5–20 Hz) and specialization snapshots; runId filters, absent = all. */
  onRunEvent: { params: z.object({ runId: z.string().optional() }).strict().default({}), data: RunEvent },
  onSearchEvent: { params: z.object({ searchId: z.string().optional() }).strict().default({}), data: SearchEvent },
} as const;

export type Methods = typeof methods;
export type MethodName = keyof Methods;
export type MethodParams<M extends MethodName> = z.input<Methods[M]['params']>;
export type MethodParamsParsed<M extends MethodName> = z.output<Methods[M]['params']>;
export type MethodResult<M extends MethodName> = z.output<Methods[M]['result']>;
export type Events = typeof events;
export type EventName = keyof Events;
export type EventParams<E extends EventName> = z.input<Events[E]['params']>;
export type EventParamsParsed<E extends EventName> = z.output<Events[E]['params']>;
export type EventData<E extends EventName> = z.output<Events[E]['data']>;

// ---------------------------------------------------------------------------------------------------
// Wire messages.

const Id = z.number().int().nonnegative();
export const ClientMessage = z.discriminatedUnion('t', [
  z.object({ t: z.literal('call'), id: Id, method: z.string(), params: z.unknown().optional() }).strict(),
  z.object({ t: z.literal('cancel'), id: Id }).strict(),
  z.object({ t: z.literal('listen'), id: Id, event: z.string(), params: z.unknown().optional() }).strict(),
  z.object({ t: z.literal('dispose'), id: Id }).strict(),
]);
export type ClientMessage = z.infer<typeof ClientMessage>;

export const ProtocolErrorData = z.object({
  code: z.enum(['invalid', 'not_found', 'cancelled', 'failed', 'unknown_method', 'busy']),
  message: z.string(),
  issues: z.array(ValidationIssue).optional(),
});
export type ProtocolErrorData = z.infer<typeof ProtocolErrorData>;

export const HostMessage = z.discriminatedUnion('t', [
  z.object({ t: z.literal('result'), id: Id, data: z.unknown() }),
  z.object({ t: z.literal('error'), id: Id, error: ProtocolErrorData }),
  z.object({ t: z.literal('event'), id: Id, data: z.unknown() }),
]);
export type HostMessage = z.infer<typeof HostMessage>;

/** An error that travels: carries a code and, for bad input, the paths of the bad fields. */
export class ProtocolError extends Error {
  constructor(
    readonly code: ProtocolErrorData['code'],
    message: string,
    readonly issues?: ValidationIssue[],
  ) {
    super(message);
    this.name = 'ProtocolError';
  }
  toData(): ProtocolErrorData {
    return { code: this.code, message: this.message, ...(this.issues ? { issues: this.issues } : {}) };
  }
}


/** Parse or throw a ProtocolError('invalid') whose message names the first bad field's path. */
export function parseOrThrow<S extends z.ZodType>(schema: S, value: unknown, what: string, prefix: readonly PropertyKey[] = []): z.output<S> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issues = issuesOf(r.error, prefix);
  const first = issues[0]!;
  const more = issues.length > 1 ? ` (and ${issues.length - 1} more)` : '';
  throw new ProtocolError('invalid', `invalid ${what}: ${first.path}: ${first.message}${more}`, issues);
}

export function isMethodName(name: string): name is MethodName {
  return Object.prototype.hasOwnProperty.call(methods, name);
}
export function isEventName(name: string): name is EventName {
  return Object.prototype.hasOwnProperty.call(events, name);
}
