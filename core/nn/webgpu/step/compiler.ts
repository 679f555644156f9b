/**
 * What a block's compiled step sees (the ElasticBlock's optional `compile`, core/nn/blocks/block.ts): the
 * program it records into, activation buffers, its variables' update sites, and slots in the step's stats
 * buffer for its report. A block records its forward when compiled and its backward when `backward` is
 * called (in reverse order, after the loss), so its closures hold whatever the backward reads.
 *
 * Gradients are not materialised: each weight gradient kernel updates the weight as it computes an element
 * (./update.ts), which is why a compiled step serves a single subnet per step (SPOS-style strategies);
 * steps that sum several subnets' gradients, clip them or let a strategy edit them take the tfjs path.
 */
import type * as tf from '@tensorflow/tfjs';
import type { SampleShape as ActivationShape } from '../../../space/blocks/descriptor.js';
import { ownedBuffer } from './gpu.js';
import type { StepProgram } from './program.js';
import { updateSite, type UpdateKind, type UpdateSite } from './update.js';

/** An activation of the batch: `rows` × `width` f32, row-major (NHWC for images: rows = B·H·W… see shape). */
export interface Act {
  buffer: GPUBuffer;
  /** Per-sample shape (core/space/blocks/descriptor.ts SampleShape). */
  shape: ActivationShape;
}

export interface CompiledLayer {
  /**
   * Record the backward: `dy` holds the gradient of the loss at this layer's output (same layout as the
   * output); return a buffer with the gradient at its input, or null when `needDx` is false. The weight
   * updates are recorded here too.
   */
  backward(dy: GPUBuffer, needDx: boolean): GPUBuffer | null;
}

/** A block's compiled forward: its output and the layer whose backward the compiler records later. */
export interface CompiledForward {
  out: Act;
  layer: CompiledLayer;
}

/** Optimizer slot variables for a variable (PathOptimizer's, created on first use) and update counting. */
export interface SlotSource {
  kind: UpdateKind;
  slotsOf(v: tf.Variable): tf.Variable[];
}

export const STATS_CAPACITY = 1024;

/**
 * Where an MoE layer's report sits in the stats buffer: at `offset` (a stats index from `report`), the
 * trainer's packed order (core/train/Trainer.ts unpackStep): load × expertNames.length, dropped, entropy,
 * auxLoss (NaN: none), meanActive.
 */
export interface MoEReportSlot {
  layer: string;
  expertNames: string[];
  alwaysOn: number[];
  offset: number;
}

export class StepCompiler {
  /** Every variable (and slot) whose buffer the recorded step binds: a changed buffer invalidates it. */
  readonly bound = new Map<tf.Variable, GPUBuffer>();
  /** Variables the step updates (PathOptimizer counts one update each per step). */
  readonly updated = new Set<tf.Variable>();
  private statsUsed = 2;
  /** [loss, correct, …reports]: read back after each replay. */
  readonly stats: GPUBuffer;

  constructor(
    readonly program: StepProgram,
    readonly batch: number,
    private readonly slots: SlotSource,
  ) {
    this.stats = program.scratch(STATS_CAPACITY, 'stats');
  }

  /** A zero-initialised activation / scratch buffer of `elements` floats. */
  buffer(elements: number, label: string): GPUBuffer {
    return this.program.scratch(elements, label);
  }

  /** The GPU buffer of a variable the step reads (not updated: running statistics, …). */
  read(v: tf.Variable): GPUBuffer {
    const b = ownedBuffer(v);
    this.bound.set(v, b);
    return b;
  }

  /** The update site of a trainable variable: bindings and `<prefix>_update(i, g)` (./update.ts). */
  update(v: tf.Variable, prefix: string): UpdateSite {
    const weight = this.read(v);
    const slots = this.slots.slotsOf(v).map((s) => this.read(s));
    this.updated.add(v);
    return updateSite(this.program, { kind: this.slots.kind, variable: v, weight, slots }, prefix);
  }

  /** MoE layers' report slots, in forward order (what the trainer unpacks). */
  readonly moeReports: MoEReportSlot[] = [];

  /** Register an MoE layer's report (allocate its floats with `report(experts + 4)` first). */
  moeReport(slot: MoEReportSlot): void {
    this.moeReports.push(slot);
  }

  /** `count` consecutive floats of the stats buffer for a layer's report; returns the first index. */
  report(count: number): number {
    const at = this.statsUsed;
    if (at + count > STATS_CAPACITY) throw new Error(`compiled step: reports need more than ${STATS_CAPACITY} floats`);
    this.statsUsed += count;
    return at;
  }

  get statsLength(): number {
    return this.statsUsed;
  }
}
