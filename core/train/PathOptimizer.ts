/**
 * Optimizers that update only the parts of the weights a step's subnets used, keeping their state by
 * variable name. tfjs' own optimizers index their slots by position in each call's gradient list
 * (tfjs-core adam_optimizer.ts: `accumulatedFirstMoment[i]`), so when single-path training (SPOS,
 * Guo et al. 2020) touches a different subset of variables each step, moments would land on the wrong
 * variables.
 *
 * Lazy per slice: a subnet uses slices of the shared kernels (the first w columns, the centre k×k of a
 * conv kernel), and the gradient of the unused part is exactly zero. Elements whose gradient is zero are
 * left exactly as they were — weight and moments (no moment decay, no update) — as lazy Adam leaves the
 * rows a sparse gradient does not name; each element keeps its own step count for bias correction. A
 * variable off the path has no gradient at all and is skipped. Deviation: a used element whose gradient
 * happens to be exactly 0 (e.g. a ReLU unit dead on the whole batch) is treated as unused too.
 */
import * as tf from '@tensorflow/tfjs';
import { permuteTensor } from '../nn/channelSorting.js';
import { pathUpdate, pathUpdateFusedSupported } from '../nn/webgpu/pathUpdateKernels.js';
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
    /** The step size; a schedule sets it before each apply (core/train/languageModel.ts learningRateAt). */
    public learningRate: number,
    private readonly variables: Map<string, tf.Variable>,
  ) {
    for (const [name, v] of variables) this.nameOf.set(v, name);
  }

  /** Adam: first moment, second moment, per-element update count; momentum: velocity. */
  private slotCount(): number {
    return this.kind === 'adam' ? 3 : this.kind === 'momentum' ? 1 : 0;
  }

  private slotsFor(name: string, v: tf.Variable): tf.Variable[] {
    let s = this.slots.get(name);
    if (!s) {
      s = Array.from({ length: this.slotCount() }, () => tf.tidy(() => tf.variable(tf.zerosLike(v), false)));
      this.slots.set(name, s);
    }
    return s;
  }

  /**
   * The slot variables of `v` (created on first use), for the compiled WebGPU step that updates them in
   * place (core/nn/webgpu/step/update.ts); the SlotSource the step compiler reads.
   */
  slotsOf(v: tf.Variable): tf.Variable[] {
    return this.slotsFor(this.nameOf.get(v) ?? v.name, v);
  }

  /** Count one update of each variable a compiled step updated (the counters checkpoints keep). */
  countUpdates(vars: Iterable<tf.Variable>): void {
    for (const v of vars) {
      const name = this.nameOf.get(v) ?? v.name;
      this.counts.set(name, (this.counts.get(name) ?? 0) + 1);
    }
  }

  /** The step's scalars for a compiled step (core/nn/webgpu/step/program.ts StepValues). */
  stepValues(progress = 0): { lr: number; beta1: number; beta2: number; eps: number; momentum: number; progress: number } {
    return { lr: this.learningRate, beta1: BETA1, beta2: BETA2, eps: EPS, momentum: MOMENTUM, progress };
  }

  /** Apply one update to the used elements (non-zero gradient) of each variable that has a gradient. */
  apply(grads: Map<tf.Variable, tf.Tensor>): void {
    const lr = this.learningRate;
    for (const [v, g] of grads) {
      const name = this.nameOf.get(v) ?? v.name;
      this.counts.set(name, (this.counts.get(name) ?? 0) + 1);
      const s = this.slotsFor(name, v);
      if (pathUpdateFusedSupported()) {
        // WebGPU: the same lazy update as below, one kernel per updated tensor (core/nn/webgpu/pathUpdateKernels.ts).
        const p = { lr, beta1: BETA1, beta2: BETA2, eps: EPS, momentum: MOMENTUM };
        tf.tidy(() => {
          if (this.kind === 'sgd') v.assign(pathUpdate('sgd.v', { V: v, G: g }, p));
          else if (this.kind === 'momentum') {
            s[0]!.assign(pathUpdate('momentum.m', { M: s[0]!, G: g }, p));
            v.assign(pathUpdate('momentum.v', { V: v, G: g, Mn: s[0]! }, p));
          } else {
            s[0]!.assign(pathUpdate('adam.m', { M: s[0]!, G: g }, p));
            s[1]!.assign(pathUpdate('adam.u', { U: s[1]!, G: g }, p));
            s[2]!.assign(pathUpdate('adam.t', { T: s[2]!, G: g }, p));
            v.assign(pathUpdate('adam.v', { V: v, G: g, Mn: s[0]!, Un: s[1]!, Tn: s[2]! }, p));
          }
        });
        continue;
      }
      tf.tidy(() => {
        const used = tf.notEqual(g, 0);
        // where(): unused elements keep their exact bits.
        const keepUnused = (next: tf.Tensor, prev: tf.Tensor) => tf.where(used, next, prev);
        if (this.kind === 'sgd') {
          v.assign(keepUnused(tf.sub(v, tf.mul(g, lr)), v));
        } else if (this.kind === 'momentum') {
          const m = keepUnused(tf.add(tf.mul(s[0]!, MOMENTUM), g), s[0]!);
          s[0]!.assign(m);
          v.assign(keepUnused(tf.sub(v, tf.mul(m, lr)), v));
        } else {
          const t = tf.add(s[2]!, tf.cast(used, 'float32'));
          const m = keepUnused(tf.add(tf.mul(s[0]!, BETA1), tf.mul(g, 1 - BETA1)), s[0]!);
          const u = keepUnused(tf.add(tf.mul(s[1]!, BETA2), tf.mul(tf.square(g), 1 - BETA2)), s[1]!);
          s[0]!.assign(m);
          s[1]!.assign(u);
          s[2]!.assign(t);
          // Per-element bias correction lr·√(1 − β₂ᵗ) / (1 − β₁ᵗ); t ≥ 1 wherever it is used.
          const tSafe = tf.maximum(t, 1);
          const step = tf.div(tf.mul(lr, tf.sqrt(tf.sub(1, tf.pow(BETA2, tSafe)))), tf.sub(1, tf.pow(BETA1, tSafe)));
          v.assign(keepUnused(tf.sub(v, tf.mul(tf.div(m, tf.add(tf.sqrt(u), EPS)), step)), v));
        }
      });
    }
  }

  /**
   * Reorder the slots of `variable` along `axis` as its weights were reordered (OFA's channel sorting),
   * so each element keeps its own moments and update count.
   */
  permute(variable: string, axis: number, perm: readonly number[]): void {
    for (const s of this.slots.get(variable) ?? []) permuteTensor(s, { axis, perm: [...perm] });
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
    const loaded = new Set<string>();
    for (const a of slots) {
      const hash = a.name.lastIndexOf('#');
      const name = a.name.slice(0, hash);
      const i = Number(a.name.slice(hash + 1));
      const v = this.variables.get(name);
      if (!v) throw new Error(`checkpoint has optimizer state for unknown variable "${name}"`);
      const s = this.slotsFor(name, v);
      if (!s[i]) throw new Error(`checkpoint has optimizer slot ${i} for "${name}", which ${this.kind} does not keep`);
      tf.tidy(() => s[i]!.assign(tf.tensor(a.data, a.shape, 'float32')));
      loaded.add(a.name);
    }
    // Checkpoints from before per-element counts: every element of a variable had its variable's count.
    if (this.kind === 'adam') {
      for (const [name, s] of this.slots) {
        if (!loaded.has(`${name}#2`)) tf.tidy(() => s[2]!.assign(tf.fill(s[2]!.shape, this.counts.get(name) ?? 0)));
      }
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
