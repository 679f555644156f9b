/**
 * Datasets the trainer consumes: flat typed arrays (features row-major, labels as class indices) so
 * they can be batched without tensors and shared with search/evaluation code unchanged.
 */
import type { DatasetConfig } from '../protocol/protocol.js';
import { inputSampleShape, type InputSpec } from '../space/SearchSpace.js';
import { createRng } from '../space/rng.js';
import type { Dataset, SourceDataset, Split, TokenSpec } from './DatasetContract.js';
import { loadFashionMnist } from './fashionMnist.js';
import { patchSequenceShape, toPatchSequences } from './patches.js';
import { makeSequenceTasks } from './sequenceTasks.js';
import { makeGaussians, makeSpirals } from './synthetic.js';
import { loadTextCorpus } from './textCorpus.js';

export { DatasetError, sampleSize, type Dataset, type PlaneBounds, type SourceDataset, type Split } from './DatasetContract.js';

export interface LoadDatasetOptions {
  /** The search space's input: a vector of 784 makes Fashion-MNIST load flattened. */
  input?: InputSpec;
}

/** Share of the training set held out for validation when the config does not say. */
export const DEFAULT_VAL_FRACTION = 0.1;
/** Smallest validation split (tiny synthetic sets), unless that would leave less than half for training. */
export const MIN_VAL_SAMPLES = 32;
/**
 * Seed of the validation permutation. Fixed for Fashion-MNIST, so every run of it validates on the
 * same images and their validation scores compare; synthetic sets mix in their own seed.
 */
export const VAL_SPLIT_SEED = 0x7a11d;
/** Share of documents a text corpus holds out for validation and for test when the config does not say. */
export const DEFAULT_TEXT_SPLIT_FRACTION = 0.05;

export async function loadDataset(cfg: DatasetConfig, opts: LoadDatasetOptions = {}): Promise<Dataset> {
  const fraction = cfg.valFraction ?? DEFAULT_VAL_FRACTION;
  switch (cfg.kind) {
    case 'spirals':
      return withValidation(makeSpirals(cfg), fraction, VAL_SPLIT_SEED ^ cfg.seed);
    case 'gaussians':
      return withValidation(makeGaussians(cfg), fraction, VAL_SPLIT_SEED ^ cfg.seed);
    case 'fashion-mnist': {
      const flatten = cfg.flatten || (opts.input?.kind === 'vector' && opts.input.dim === 784);
      const ds = withValidation(await loadFashionMnist({ dir: cfg.dir, limit: cfg.limit, flatten: flatten && !cfg.patch }), fraction, VAL_SPLIT_SEED);
      return cfg.patch ? asPatchSequences(ds, cfg.patch) : ds;
    }
    case 'text': {
      const f = cfg.valFraction ?? DEFAULT_TEXT_SPLIT_FRACTION;
      const c = await loadTextCorpus({ ...cfg, valFraction: f, testFraction: cfg.testFraction ?? DEFAULT_TEXT_SPLIT_FRACTION });
      return tokenDataset('text', c);
    }
    case 'sequence-tasks':
      return tokenDataset('sequence-tasks', makeSequenceTasks({ ...cfg, valFraction: fraction, testFraction: fraction }));
  }
}

/** A token workload's splits as a Dataset: one sample is seqLen token ids, the classes are the tokens. */
function tokenDataset(kind: 'text' | 'sequence-tasks', d: Pick<Dataset, 'train' | 'val' | 'test'> & { tokens: TokenSpec }): Dataset {
  return {
    kind,
    train: d.train,
    val: d.val,
    test: d.test,
    inputShape: [d.tokens.seqLen],
    numClasses: d.tokens.vocab.length,
    classNames: d.tokens.vocab,
    tokens: d.tokens,
  };
}

/** Fashion-MNIST images as sequences of patch × patch tiles: inputShape [tokens, patch²]. */
function asPatchSequences(ds: Dataset, patch: number): Dataset {
  const s = { height: 28, width: 28, channels: 1, patch };
  return {
    ...ds,
    train: toPatchSequences(ds.train, s),
    val: toPatchSequences(ds.val, s),
    test: toPatchSequences(ds.test, s),
    inputShape: patchSequenceShape(s),
  };
}

/** Number of training samples `holdOutValidation` moves to the validation split. */
export function validationSize(n: number, fraction: number): number {
  return Math.min(Math.floor(n / 2), Math.max(MIN_VAL_SAMPLES, Math.round(n * fraction)));
}

/** The samples at `indices` of a split, in that order. */
export function pickSamples(split: Split, indices: readonly number[]): Split {
  const f = split.n > 0 ? split.x.length / split.n : 0;
  const x = new Float32Array(indices.length * f);
  const y = new Int32Array(indices.length);
  const t = split.targets ? split.targets.length / Math.max(1, split.n) : 0;
  const targets = split.targets ? new Int32Array(indices.length * t) : undefined;
  const groups = split.groups ? new Int32Array(indices.length) : undefined;
  indices.forEach((j, k) => {
    x.set(split.x.subarray(j * f, (j + 1) * f), k * f);
    y[k] = split.y[j]!;
    targets?.set(split.targets!.subarray(j * t, (j + 1) * t), k * t);
    if (groups) groups[k] = split.groups![j]!;
  });
  return { x, y, n: indices.length, ...(targets ? { targets } : {}), ...(groups ? { groups } : {}) };
}

/**
 * Split a training set into train and validation by a seeded permutation: the first
 * `validationSize` indices of the permutation are validation, the rest stay training; both keep the
 * original order, and no sample is in both.
 */
export function holdOutValidation(train: Split, fraction: number, seed: number): { train: Split; val: Split; valIndices: number[] } {
  const order = createRng(seed).shuffle(Array.from({ length: train.n }, (_, i) => i));
  const nVal = validationSize(train.n, fraction);
  const valIndices = order.slice(0, nVal).sort((a, b) => a - b);
  const isVal = new Uint8Array(train.n);
  for (const i of valIndices) isVal[i] = 1;
  const trainIndices: number[] = [];
  for (let i = 0; i < train.n; i++) if (!isVal[i]) trainIndices.push(i);
  return { train: pickSamples(train, trainIndices), val: pickSamples(train, valIndices), valIndices };
}

function withValidation(ds: SourceDataset, fraction: number, seed: number): Dataset {
  const { train, val } = holdOutValidation(ds.train, fraction, seed);
  return { ...ds, train, val };
}

/**
 * Checks that a dataset fits a search space's input and class count, so a mismatch is reported
 * before a model is built rather than as a shape error deep inside tfjs.
 */
export function checkDatasetFitsInput(ds: Dataset, input: InputSpec, numClasses: number): string | null {
  // Ids and features are different things even where the shapes agree: a token dataset needs a token input.
  if (ds.tokens && input.kind !== 'tokens') return `the ${ds.kind} data are token ids: set the space's input to {"kind": "tokens", "length": ${ds.tokens.seqLen}, "vocab": ${ds.tokens.vocab.length}}`;
  if (!ds.tokens && input.kind === 'tokens') return `the space's input is token ids but the ${ds.kind} data are features`;
  if (ds.tokens && input.kind === 'tokens' && input.vocab < ds.tokens.vocab.length) {
    return `the space's vocabulary holds ${input.vocab} tokens but the ${ds.kind} data use ${ds.tokens.vocab.length}`;
  }
  const want = inputSampleShape(input);
  if (want.length !== ds.inputShape.length || want.some((d, i) => d !== ds.inputShape[i])) {
    return `the space's input is [${want.join(', ')}] but the ${ds.kind} data is [${ds.inputShape.join(', ')}]`;
  }
  if (numClasses < ds.numClasses) {
    return `the space has ${numClasses} classes but the ${ds.kind} data has ${ds.numClasses}`;
  }
  return null;
}
