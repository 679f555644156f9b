/**
 * A supernet training step compiled for one subnet and batch size on WebGPU (issue 18): forward, the
 * trainer's loss (mean cross-entropy + the MoE layers' weighted aux losses), backward and PathOptimizer's
 * lazy update, recorded once as raw dispatches over the supernet's own variable buffers (./program.ts) and
 * replayed each step with one submission. Per step the host writes the batch, the labels and the step's
 * scalars, and reads one small stats buffer.
 *
 * Semantics are the tfjs path's (core/train/Trainer.ts with a single subnet per step): the same variables
 * change, by the same rule, so checkpoints, evaluation and export see no difference. `StepCache` keeps
 * compiled steps per subnet (SPOS samples a different one each step; the shader pipelines are shared) and
 * rebuilds one whose variables tfjs has re-allocated (an `assign`, a checkpoint load, OFA's channel sort).
 */
import type * as tf from '@tensorflow/tfjs';
import type { Arch } from '../../../space/SearchSpace.js';
import { archKey } from '../../../space/archCodec.js';
import { StepCompiler, type MoEReportSlot, type SlotSource } from './compiler.js';
import { currentBuffer, flushTfjs, webgpuBackend, written } from './gpu.js';
import { compileCrossEntropy, compileTokenCrossEntropy } from './lossStep.js';
import { readFloats, StepProgram, StepResources, type StepValues } from './program.js';

/** What a compiled step needs of a supernet (ElasticSupernet.compileStep). */
export interface CompilableNet {
  compileStep(arch: Arch, c: StepCompiler, input: GPUBuffer): { logits: GPUBuffer; rows: number; layers: { backward(dy: GPUBuffer, needDx: boolean): GPUBuffer | null }[] } | string;
  readonly space: { numClasses: number };
  /** A token input: one label per position, IGNORE_TARGET ones unscored (the trainer's token loss). */
  readonly perToken?: boolean;
}

export interface StepStats {
  /** Mean cross-entropy of the batch (before the aux losses). */
  loss: number;
  /** Rows whose arg-max is the label. */
  correct: number;
  /** The layers' reports, in the order they asked for them (StepCompiler.report); `all` indexes from 0. */
  reports: Float32Array;
  /** The whole stats buffer (stats indices of StepCompiler.report / MoEReportSlot.offset). */
  all: Float32Array;
}

export class CompiledStep {
  private readonly x: GPUBuffer;
  private readonly labels: GPUBuffer;
  private readonly readbacks: GPUBuffer[];
  private next = 0;
  private pending: GPUBuffer | null = null;

  private constructor(
    readonly program: StepProgram,
    private readonly compiler: StepCompiler,
    readonly batch: number,
    readonly inputFloats: number,
    readonly labelCount: number,
    x: GPUBuffer,
    labels: GPUBuffer,
  ) {
    this.x = x;
    this.labels = labels;
    const bytes = compiler.statsLength * 4;
    this.readbacks = [0, 1, 2].map((i) => program.readback(bytes, `stats.readback${i}`));
  }

  /**
   * Compile `arch` at `batch` rows; a string says why it cannot be (a block type or option without a
   * compiled step, or no WebGPU backend).
   */
  static build(net: CompilableNet, arch: Arch, batch: number, inputFloats: number, slots: SlotSource, resources?: StepResources): CompiledStep | string {
    const backend = webgpuBackend();
    const program = new StepProgram(backend.device, resources);
    const compiler = new StepCompiler(program, batch, slots);
    const x = compiler.buffer(batch * inputFloats, 'input');
    try {
      const r = net.compileStep(arch, compiler, x);
      if (typeof r === 'string') {
        program.dispose();
        return r;
      }
      const labels = compiler.buffer(r.rows, 'labels');
      let dy = (net.perToken ? compileTokenCrossEntropy : compileCrossEntropy)(compiler, r.logits, labels, r.rows, net.space.numClasses);
      for (let i = r.layers.length - 1; i >= 0; i--) {
        const dx = r.layers[i]!.backward(dy, i > 0);
        if (i > 0) {
          if (!dx) throw new Error('compiled step: a layer returned no input gradient');
          dy = dx;
        }
      }
      return new CompiledStep(program, compiler, batch, inputFloats, r.rows, x, labels);
    } catch (e) {
      program.dispose();
      throw e;
    }
  }

  /** Still valid: every variable it binds has the buffer it was compiled with. */
  valid(): boolean {
    for (const [v, b] of this.compiler.bound) {
      if (v.isDisposed || currentBuffer(v) !== b) return false;
    }
    return true;
  }

  /** The variables this step updates (PathOptimizer counts them). */
  get updated(): ReadonlySet<tf.Variable> {
    return this.compiler.updated;
  }

  /** The MoE layers' report slots (StepCompiler.moeReport), in forward order. */
  get moeReports(): readonly MoEReportSlot[] {
    return this.compiler.moeReports;
  }

  get dispatchCount(): number {
    return this.program.dispatchCount;
  }

  /** Upload a batch (inputs and labels); it stays on the GPU for every `run` until the next upload. */
  setBatch(x: Float32Array, labels: Int32Array): void {
    if (x.length !== this.inputFloats * this.batch) throw new Error(`compiled step: ${x.length} input floats for ${this.batch} × ${this.inputFloats}`);
    if (labels.length !== this.labelCount) throw new Error(`compiled step: ${labels.length} labels for ${this.labelCount} rows`);
    const q = this.program.device.queue;
    q.writeBuffer(this.x, 0, x.buffer, x.byteOffset, x.byteLength);
    q.writeBuffer(this.labels, 0, labels.buffer, labels.byteOffset, labels.byteLength);
  }

  /** Record one step on the current batch, after tfjs' pending work; `stats` reads its numbers. */
  run(values: StepValues): void {
    flushTfjs();
    this.program.setStepValues(values);
    const rb = this.readbacks[this.next]!;
    this.next = (this.next + 1) % this.readbacks.length;
    // A readback still mapped (its stats never read) cannot be a copy target: skip the copy then.
    if (rb.mapState === 'unmapped') this.program.copyAfter(this.compiler.stats, rb, this.compiler.statsLength * 4);
    this.program.run();
    this.program.clearCopies();
    for (const v of this.compiler.bound.keys()) written(v);
    this.pending = rb;
  }

  /** The numbers of the last `run` (waits for the GPU). */
  async stats(): Promise<StepStats> {
    const rb = this.pending;
    if (!rb) throw new Error('compiled step: stats() before run()');
    this.pending = null;
    const all = await readFloats(rb, this.compiler.statsLength);
    return { loss: all[0]!, correct: all[1]!, reports: all.slice(2), all };
  }

  dispose(): void {
    this.program.dispose();
  }
}

/** Compiled steps by subnet (LRU), rebuilt when their variables moved. */
export class StepCache {
  private readonly steps = new Map<string, CompiledStep | string>();
  private shared: StepResources | null = null;

  constructor(private readonly capacity = 64) {}

  /** The GPU objects the cached programs share (pass to CompiledStep.build). */
  resources(): StepResources {
    return (this.shared ??= new StepResources(webgpuBackend().device));
  }

  get(key: { arch: Arch; batch: number }, build: (resources: StepResources) => CompiledStep | string): CompiledStep | string {
    const k = `${key.batch}|${archKey(key.arch)}`;
    let s = this.steps.get(k);
    if (s instanceof CompiledStep && !s.valid()) {
      s.dispose();
      s = undefined;
    }
    if (s === undefined) {
      s = build(this.resources());
      if (this.steps.size >= this.capacity) {
        const [oldK, old] = this.steps.entries().next().value!;
        if (old instanceof CompiledStep) old.dispose();
        this.steps.delete(oldK);
      }
    } else this.steps.delete(k);
    this.steps.set(k, s);
    return s;
  }

  dispose(): void {
    for (const s of this.steps.values()) if (s instanceof CompiledStep) s.dispose();
    this.steps.clear();
    this.shared?.destroy();
    this.shared = null;
  }
}
