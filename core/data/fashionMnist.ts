/**
 * Fashion-MNIST (Xiao et al., 2017) from its original IDX .gz files: 60k train / 10k test greyscale
 * 28×28 images of 10 clothing classes.
 */
import { join } from 'node:path';
import { DatasetError, type SourceDataset, type Split } from './DatasetContract.js';
import { readIdxGz } from './idx.js';

export const FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

export const FASHION_MNIST_CLASSES = [
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
];

export interface FashionMnistOptions {
  dir: string;
  /** Keep only the first N training images (0 = all). The test split is always whole. */
  limit: number;
  flatten: boolean;
}

export async function loadFashionMnist(opts: FashionMnistOptions): Promise<SourceDataset> {
  const [train, test] = await Promise.all([
    loadSplit(opts.dir, 'train', opts.limit),
    loadSplit(opts.dir, 't10k', 0),
  ]);
  return {
    kind: 'fashion-mnist',
    train,
    test,
    inputShape: opts.flatten ? [784] : [28, 28, 1],
    numClasses: 10,
    classNames: FASHION_MNIST_CLASSES,
  };
}

async function loadSplit(dir: string, prefix: 'train' | 't10k', limit: number): Promise<Split> {
  const imagesFile = join(dir, `${prefix}-images-idx3-ubyte.gz`);
  const labelsFile = join(dir, `${prefix}-labels-idx1-ubyte.gz`);
  const [images, labels] = await Promise.all([readIdxGz(imagesFile, 3, limit), readIdxGz(labelsFile, 1, limit)]);
  const [count, rows, cols] = images.dims as [number, number, number];
  if (rows !== 28 || cols !== 28) throw new DatasetError(`${imagesFile}: images are ${rows}×${cols}, expected 28×28`);
  if (labels.dims[0] !== count) {
    throw new DatasetError(`${labelsFile}: ${labels.dims[0]} labels for ${count} images in ${imagesFile}`);
  }
  const n = count;
  const px = rows * cols;
  const x = new Float32Array(n * px);
  for (let i = 0; i < n * px; i++) x[i] = images.data[i]! / 255;
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const label = labels.data[i]!;
    if (label > 9) throw new DatasetError(`${labelsFile}: label ${label} at index ${i} is not a class 0–9`);
    y[i] = label;
  }
  return { x, y, n };
}
