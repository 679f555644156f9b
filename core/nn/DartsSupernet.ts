/**
 * A supernet with DARTS architecture parameters (Liu et al., ICLR 2019): one α vector per arch position,
 * the relaxed forward of core/nn/mixedForward.ts, and a second copy of weights and α — the previous step's
 * supernet, SD-DARTS's teacher (Zhu et al., "Improving Differentiable Architecture Search via
 * Self-Distillation", 2023). The strategy (core/train/strategies/darts.ts) updates α and decides positions.
 *
 * `apply(x, mixedArch)` (that exact object) runs the relaxed network; any other arch runs as a discrete
 * subnet of the weight-sharing supernet, so validation, search, ranking and export score subnets as usual.
 * α, the teacher and α's optimizer moments are non-trainable variables (the weight optimizer never touches
 * them) and sit in `namedVariables`, so checkpoints carry them.
 */
import * as tf from '@tensorflow/tfjs';
import { archDims, archPositions, largestArch } from '../space/archCodec.js';
import type { Arch, SearchSpace } from '../space/SearchSpace.js';
import { applyMixed } from './mixedForward.js';
import { ElasticSupernet } from './Supernet.js';
import type { ForwardOptions, ForwardResult, Supernet } from './types.js';

/** A choice of one position removed from the mixture (perturbation-based selection). */
export interface RemovedChoice {
  position: number;
  choice: number;
}

export class DartsSupernet implements Supernet {
  readonly net: ElasticSupernet;
  readonly teacher: ElasticSupernet;
  /** α per arch position ([n] each), DARTS's 1e-3 · N(0, 1) initialisation. */
  readonly alpha: tf.Variable[];
  readonly teacherAlpha: tf.Variable[];
  /** Adam's first and second moments of α. */
  readonly alphaM: tf.Variable[];
  readonly alphaV: tf.Variable[];
  /** The object that asks `apply` for the relaxed network. */
  readonly mixedArch: Arch;
  /** Decided positions (one-hot in the mixture); null: still mixed. */
  fixed: (number | null)[];
  private readonly labels: string[];

  constructor(
    readonly space: SearchSpace,
    seed: number,
  ) {
    this.net = new ElasticSupernet(space, { seed });
    this.teacher = new ElasticSupernet(space, { seed });
    const dims = archDims(space);
    this.labels = archPositions(space).map((p) => p.label);
    const init = (n: number, k: number) => tf.mul(tf.randomNormal([n], 0, 1, 'float32', seed * 131 + k), 1e-3);
    const vars = (make: (n: number, k: number) => tf.Tensor) =>
      dims.map((n, k) => {
        const t = make(n, k);
        const v = tf.variable(t, false);
        t.dispose();
        return v;
      });
    this.alpha = vars(init);
    this.teacherAlpha = this.alpha.map((a) => tf.variable(a, false));
    this.alphaM = vars((n) => tf.zeros([n]));
    this.alphaV = vars((n) => tf.zeros([n]));
    this.fixed = dims.map(() => null);
    this.mixedArch = largestArch(space);
  }

  /** The mixture weights: softmax(α) per position, one-hot where decided, a removed choice zeroed (not renormalised). */
  mixWeights(alpha: readonly tf.Tensor[] = this.alpha, removed?: RemovedChoice): tf.Tensor1D[] {
    return alpha.map((a, p) => {
      const n = a.shape[0]!;
      const f = this.fixed[p];
      const unit = (c: number, on: number, off: number) => tf.tensor1d(Array.from({ length: n }, (_, i) => (i === c ? on : off)));
      let w = (f === null || f === undefined ? tf.softmax(a) : unit(f, 1, 0)) as tf.Tensor1D;
      if (removed && removed.position === p) w = tf.mul(w, unit(removed.choice, 0, 1)) as tf.Tensor1D;
      return w;
    });
  }

  apply(x: tf.Tensor, arch: Arch, opts: ForwardOptions): ForwardResult {
    return arch === this.mixedArch ? applyMixed(this.net, x, this.mixWeights(), opts) : this.net.apply(x, arch, opts);
  }

  /** The relaxed network at given α (inside a gradient tape, for α's gradient) or with a choice removed. */
  applyMixedWith(x: tf.Tensor, alpha: readonly tf.Tensor[], opts: ForwardOptions, removed?: RemovedChoice): ForwardResult {
    return applyMixed(this.net, x, this.mixWeights(alpha, removed), opts);
  }

  /** The previous step's supernet (SD-DARTS's teacher) on `x`. */
  applyTeacher(x: tf.Tensor, opts: ForwardOptions): ForwardResult {
    return applyMixed(this.teacher, x, this.mixWeights(this.teacherAlpha), opts);
  }

  /** Make the teacher the current supernet (call after the teacher has been used for this step). */
  syncTeacher(): void {
    const dst = this.teacher.namedVariables();
    tf.tidy(() => {
      for (const [name, v] of this.net.namedVariables()) dst.get(name)!.assign(v);
      this.alpha.forEach((a, p) => this.teacherAlpha[p]!.assign(a));
    });
  }

  resolve(): ElasticSupernet {
    return this.net;
  }

  trainableVariables(): tf.Variable[] {
    return this.net.trainableVariables();
  }

  namedVariables(): Map<string, tf.Variable> {
    const out = this.net.namedVariables();
    for (const [name, v] of this.teacher.namedVariables()) out.set(`darts.teacher/${name}`, v);
    this.labels.forEach((l, p) => {
      out.set(`darts.alpha/${l}`, this.alpha[p]!);
      out.set(`darts.teacherAlpha/${l}`, this.teacherAlpha[p]!);
      out.set(`darts.alphaM/${l}`, this.alphaM[p]!);
      out.set(`darts.alphaV/${l}`, this.alphaV[p]!);
    });
    return out;
  }

  countParams(arch: Arch): number {
    return this.net.countParams(arch);
  }

  countFlops(arch: Arch): number {
    return this.net.countFlops(arch);
  }

  dispose(): void {
    this.net.dispose();
    this.teacher.dispose();
    tf.dispose([...this.alpha, ...this.teacherAlpha, ...this.alphaM, ...this.alphaV]);
  }
}
