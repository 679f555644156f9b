/**
 * Optimizers that update only the variables a step's gradients name, keeping their state by variable
 * name. tfjs' own optimizers index their slots by position in each call's gradient list
 * (tfjs-core adam_optimizer.ts: `accumulatedFirstMoment[i]`), so when single-path training (SPOS,
 * Guo et al. 2020) touches a different subset of variables each step, moments would land on the wrong
 * variables. Here a variable off the sampled path is left exactly as it was (no moment decay, no
 * update), which is the "lazy Adam" behaviour, with per-variable step counts for bias correction.
 */
import * as tf from '@tensorflow/tfjs';
import type { NamedArray } from './checkpointFormat.js';

export type OptimizerKind = 'adam' | 'sgd' | 'momentum';

export interface PathOptimizerState {
  kind: OptimizerKind;
  /** Updates applied to each variable so far. */
  counts: Record<string, number>;
}

const BETA1 = 0.9;
const BETA2 = 0.999;
const EPS = 1e-7;
const MOMENTUM = 0.9;

export class PathOptimizer {
  private readonly slots = new Map<string, tf.Variable[]>();
  private readonly counts = new Map<string, number>();
  private readonly nameOf = new Map<tf.Variable, string>();

  /** `variables`: the model's variables by stable name (the names checkpoints use). */
  constructor(
    readonly kind: OptimizerKind,
    readonly learningRate: number,
    private readonly variables: Map<string, tf.Variable>,
  ) {
    for (const [name, v] of variables) this.nameOf.set(v, name);
  }

  private slotCount(): number {
    return this.kind === 'adam' ? 2 : this.kind === 'momentum' ? 1 : 0;
  }

  private slotsFor(name: string, v: tf.Variable): tf.Variable[] {
    let s = this.slots.get(name);
    if (!s) {
      s = Array.from({ length: this.slotCount() }, () => tf.tidy(() => tf.variable(tf.zerosLike(v), false)));
      this.slots.set(name, s);
    }
    return s;
  }

  /** Apply one update to each variable that has a gradient; others are untouched. */
  apply(grads: Map<tf.Variable, tf.Tensor>): void {
    const lr = this.learningRate;
    for (const [v, g] of grads) {
      const name = this.nameOf.get(v) ?? v.name;
      const t = (this.counts.get(name) ?? 0) + 1;
      this.counts.set(name, t);
      const s = this.slotsFor(name, v);
      tf.tidy(() => {
        if (this.kind === 'sgd') {
          v.assign(tf.sub(v, tf.mul(g, lr)));
        } else if (this.kind === 'momentum') {
          const m = tf.add(tf.mul(s[0]!, MOMENTUM), g);
          s[0]!.assign(m);
          v.assign(tf.sub(v, tf.mul(m, lr)));
        } else {
          const m = tf.add(tf.mul(s[0]!, BETA1), tf.mul(g, 1 - BETA1));
          const u = tf.add(tf.mul(s[1]!, BETA2), tf.mul(tf.square(g), 1 - BETA2));
          s[0]!.assign(m);
          s[1]!.assign(u);
          const step = (lr * Math.sqrt(1 - BETA2 ** t)) / (1 - BETA1 ** t);
          v.assign(tf.sub(v, tf.mul(tf.div(m, tf.add(tf.sqrt(u), EPS)), step)));
        }
      });
    }
  }

  /**
   * Download every slot to the host so the synchronous read in getState is served from tfjs' cache
   * (WebGPU under Node cannot read synchronously).
   */
  async prefetchSlots(): Promise<void> {
    await Promise.all([...this.slots.values()].flat().map((v) => v.data()));
  }

  /** Counters (JSON) and slot arrays (binary) for a checkpoint (call prefetchSlots first on WebGPU). */
  getState(): { state: PathOptimizerState; slots: NamedArray[] } {
    const slots: NamedArray[] = [];
    for (const [name, vars] of this.slots) {
      vars.forEach((sv, i) => {
        slots.push({ name: `${name}#${i}`, shape: sv.shape.slice(), dtype: 'float32', data: Float32Array.from(sv.dataSync() as Float32Array) });
      });
    }
    return { state: { kind: this.kind, counts: Object.fromEntries(this.counts) }, slots };
  }

  setState(state: PathOptimizerState, slots: NamedArray[]): void {
    if (state.kind !== this.kind) throw new Error(`checkpoint optimizer is ${state.kind}, the run uses ${this.kind}`);
    this.disposeSlots();
    this.counts.clear();
    for (const [k, n] of Object.entries(state.counts)) this.counts.set(k, n);
    for (const a of slots) {
      const hash = a.name.lastIndexOf('#');
      const name = a.name.slice(0, hash);
      const i = Number(a.name.slice(hash + 1));
      const v = this.variables.get(name);
      if (!v) throw new Error(`checkpoint has optimizer state for unknown variable "${name}"`);
      const s = this.slotsFor(name, v);
      tf.tidy(() => s[i]!.assign(tf.tensor(a.data, a.shape, 'float32')));
    }
  }

  private disposeSlots() {
    for (const vars of this.slots.values()) for (const v of vars) v.dispose();
    this.slots.clear();
  }

  dispose(): void {
    this.disposeSlots();
  }
}
