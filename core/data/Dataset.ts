/**
 * Datasets the trainer consumes: flat typed arrays (features row-major, labels as class indices) so
 * they can be batched without tensors and shared with search/evaluation code unchanged.
 */
import type { DatasetConfig } from '../protocol/protocol.js';
import type { InputSpec } from '../space/SearchSpace.js';
import { loadFashionMnist } from './fashionMnist.js';
import { makeGaussians, makeSpirals } from './synthetic.js';

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
  train: Split;
  test: Split;
  /** Shape of one sample, e.g. [2], [784] or [28, 28, 1]. */
  inputShape: number[];
  numClasses: number;
  classNames: string[];
  /** Only for 2-D datasets. */
  bounds?: PlaneBounds;
}

export interface LoadDatasetOptions {
  /** The search space's input: a vector of 784 makes Fashion-MNIST load flattened. */
  input?: InputSpec;
}

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

export async function loadDataset(cfg: DatasetConfig, opts: LoadDatasetOptions = {}): Promise<Dataset> {
  switch (cfg.kind) {
    case 'spirals':
      return makeSpirals(cfg);
    case 'gaussians':
      return makeGaussians(cfg);
    case 'fashion-mnist': {
      const flatten = cfg.flatten || (opts.input?.kind === 'vector' && opts.input.dim === 784);
      return loadFashionMnist({ dir: cfg.dir, limit: cfg.limit, flatten });
    }
  }
}

/**
 * Checks that a dataset fits a search space's input and class count, so a mismatch is reported
 * before a model is built rather than as a shape error deep inside tfjs.
 */
export function checkDatasetFitsInput(ds: Dataset, input: InputSpec, numClasses: number): string | null {
  const want = input.kind === 'vector' ? [input.dim] : [input.height, input.width, input.channels];
  if (want.length !== ds.inputShape.length || want.some((d, i) => d !== ds.inputShape[i])) {
    return `the space's input is [${want.join(', ')}] but the ${ds.kind} data is [${ds.inputShape.join(', ')}]`;
  }
  if (numClasses < ds.numClasses) {
    return `the space has ${numClasses} classes but the ${ds.kind} data has ${ds.numClasses}`;
  }
  return null;
}
