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

