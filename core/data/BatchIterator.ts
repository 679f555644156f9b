/**
 * Seeded mini-batches over a split: each epoch visits every sample once in a shuffled order. The state
 * is three integers (epoch, position, and the RNG state the epoch's permutation was drawn from), so a
 * checkpoint can restore the exact batch sequence.
 */
import { createRng } from '../space/rng.js';
import type { Split } from './Dataset.js';

export interface BatchIteratorState {
  epoch: number;
  cursor: number;
  /** RNG state just before this epoch's permutation was shuffled. */
  epochRngState: number;
}

export interface Batch {
  x: Float32Array;
  y: Int32Array;
  size: number;
  /** Token datasets: size × seqLen target ids (Split.targets). */
  targets?: Int32Array;
  /** Token datasets: size group indices (Split.groups). */
  groups?: Int32Array;
}

export class BatchIterator {
  private readonly rng;
  private order: Int32Array;
  private st: BatchIteratorState;

  constructor(
    private readonly split: Split,
    readonly batchSize: number,
    seed: number,
    state?: BatchIteratorState,
  ) {
    if (split.n === 0) throw new Error('cannot iterate over an empty split');
    this.rng = createRng(seed);
    this.order = new Int32Array(split.n);
    this.st = { epoch: 0, cursor: 0, epochRngState: this.rng.getState() };
    if (state) this.setState(state);
    else this.shuffle();
  }

  private shuffle() {
    this.rng.setState(this.st.epochRngState);
    const idx = Array.from({ length: this.split.n }, (_, i) => i);
    this.rng.shuffle(idx);
    this.order = Int32Array.from(idx);
  }

  private get featureSize() {
    return this.split.x.length / this.split.n;
  }

  next(): Batch {
    const f = this.featureSize;
    const x = new Float32Array(this.batchSize * f);
    const y = new Int32Array(this.batchSize);
    const { targets: tg, groups: gr } = this.split;
    const t = tg ? tg.length / this.split.n : 0;
    const targets = tg ? new Int32Array(this.batchSize * t) : undefined;
    const groups = gr ? new Int32Array(this.batchSize) : undefined;
    for (let k = 0; k < this.batchSize; k++) {
      if (this.st.cursor >= this.split.n) {
        this.st = { epoch: this.st.epoch + 1, cursor: 0, epochRngState: this.rng.getState() };
        this.shuffle();
      }
      const j = this.order[this.st.cursor++]!;
      x.set(this.split.x.subarray(j * f, (j + 1) * f), k * f);
      y[k] = this.split.y[j]!;
      targets?.set(tg!.subarray(j * t, (j + 1) * t), k * t);
      if (groups) groups[k] = gr![j]!;
    }
    return { x, y, size: this.batchSize, ...(targets ? { targets } : {}), ...(groups ? { groups } : {}) };
  }

  getState(): BatchIteratorState {
    return { ...this.st };
  }

  setState(s: BatchIteratorState): void {
    this.st = { ...s };
    this.shuffle();
  }
}

/** Consecutive slices of a split (evaluation: every sample once, in order). */
export function* sequentialBatches(split: Split, batchSize: number, limit = split.n): Generator<Batch> {
  const f = split.x.length / split.n;
  const n = Math.min(limit, split.n);
  for (let i = 0; i < n; i += batchSize) {
    const size = Math.min(batchSize, n - i);
    const t = split.targets ? split.targets.length / split.n : 0;
    yield {
      x: split.x.subarray(i * f, (i + size) * f),
      y: split.y.subarray(i, i + size),
      size,
      ...(split.targets ? { targets: split.targets.subarray(i * t, (i + size) * t) } : {}),
      ...(split.groups ? { groups: split.groups.subarray(i, i + size) } : {}),
    };
  }
}
