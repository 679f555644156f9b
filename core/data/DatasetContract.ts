/**
 * The dataset contract: what loaders produce and what the trainer, search and export consume. Kept
 * apart from loadDataset (the registry of loaders) so loaders import the contract, the registry imports
 * the loaders, and nothing imports in a circle.
 */
import type { DatasetConfig } from '../protocol/protocol.js';

export interface Split {
  /** n × prod(inputShape) features, row-major. */
  x: Float32Array;
  /** n class indices. */
  y: Int32Array;
  n: number;
  /**
   * Token datasets only: n × seqLen target token ids, one per position (the next character for a causal
   * language model); IGNORE_TARGET marks positions without a loss (a sequence task's prompt).
   */
  targets?: Int32Array;
  /** Token datasets only: n group indices naming where a sample came from (the hidden task of a sequence task). */
  groups?: Int32Array;
}

/** A target position that carries no loss and no score. */
export const IGNORE_TARGET = -1;

/**
 * What a token dataset adds: samples are sequences of `seqLen` token ids (stored as floats in `x`), the
 * classes are the tokens (numClasses = vocab.length, classNames = vocab), and `y` is each sample's last
 * scored target, so class-indexed views keep working.
 */
export interface TokenSpec {
  /** Display text of each token id (one character for text; <unk>, <eod> and <sep> for the specials). */
  vocab: string[];
  seqLen: number;
  /** Names of Split.groups' indices. */
  groupNames: string[];
  /** Text corpora: the unigram baseline (train counts, add-one smoothed) scored on the validation targets. */
  unigramBaseline?: { split: 'val'; bitsPerChar: number; n: number };
}

/** The rectangle of the plane a 2-D dataset lives in (specialization maps are drawn over it). */
export interface PlaneBounds {
  xMin: number;
  xMax: number;
  yMin: number;
  yMax: number;
}

export interface Dataset {
  kind: DatasetConfig['kind'];
  /** What the trainer draws batches from (the training set less the validation split). */
  train: Split;
  /** Held out from the training set: training curves and search select on it. */
  val: Split;
  /** Touched only for final reports of chosen subnets (the CLI's test score, the model card). */
  test: Split;
  /** Shape of one sample, e.g. [2], [784] or [28, 28, 1]. */
  inputShape: number[];
  numClasses: number;
  classNames: string[];
  /** Only for 2-D datasets. */
  bounds?: PlaneBounds;
  /** Only for token datasets (text corpora, sequence tasks). */
  tokens?: TokenSpec;
}

/** A dataset as its source provides it, before the validation split is carved out of `train`. */
export type SourceDataset = Omit<Dataset, 'val'>;

export class DatasetError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DatasetError';
  }
}

/** Product of a shape's dimensions: the feature count of one sample. */
export function sampleSize(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

