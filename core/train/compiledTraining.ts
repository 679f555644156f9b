/**
 * The trainer's use of the compiled WebGPU step (core/nn/webgpu/step/, issue 18): on the webgpu backend a
 * step that trains one subnet with the plain loss — SPOS-style strategies without loss, per-subnet
 * gradient or gradient-editing hooks, no gradient clipping, no per-sample weights (token datasets: one
 * target per position, IGNORE_TARGET unscored, as tokenCrossEntropy) — runs as one recorded
 * program instead of ~100–1200 tfjs ops. Everything it changes (variables, PathOptimizer's slots and
 * counters) is what the tfjs path changes, so checkpoints, validation and export are unaffected. A subnet
 * with a block or option that has no compiled step runs through tfjs, with one warning naming why.
 */
import * as tf from '@tensorflow/tfjs';
import type { Arch } from '../space/SearchSpace.js';
import type { Supernet } from '../nn/types.js';
import type { CompilableNet } from '../nn/webgpu/step/compiledStep.js';
import { CompiledStep, StepCache } from '../nn/webgpu/step/compiledStep.js';
import type { MoEReportSlot } from '../nn/webgpu/step/compiler.js';
import type { PathOptimizer } from './PathOptimizer.js';
import type { TrainingStrategy } from './strategies/TrainingStrategy.js';

export interface CompiledStepRequest {
  arches: readonly Arch[];
  subnetWeights?: readonly number[] | undefined;
  strategy: TrainingStrategy<unknown>;
  gradClip?: number | undefined;
  sampleWeighted: boolean;
}

export interface CompiledStepResult {
  /** The trainer's packed numbers: [loss, correct, NaN (no distillation), …MoE layers]. */
  packed: Float32Array;
  moe: readonly MoEReportSlot[];
}

/** Whether a step can take the compiled path at all (before any subnet is compiled); null = yes. */
export function compiledStepBlocker(r: CompiledStepRequest): string | null {
  if (tf.getBackend() !== 'webgpu') return 'not on the webgpu backend';
  if (process.env.SWITCHYARD_COMPILED_STEP === '0') return 'SWITCHYARD_COMPILED_STEP=0';
  if (r.arches.length !== 1) return `the strategy trains ${r.arches.length} subnets per step (their gradients are summed through tfjs)`;
  if ((r.subnetWeights?.[0] ?? 1) !== 1) return 'the strategy weights the subnet loss';
  if (r.strategy.loss) return 'the strategy has its own loss';
  if (r.strategy.afterSubnet) return 'the strategy reads per-subnet gradients';
  if (r.strategy.adjustGradients) return 'the strategy edits gradients';
  if (r.gradClip !== undefined) return 'gradient clipping';
  if (r.sampleWeighted) return 'per-sample loss weights';
  return null;
}

export class CompiledTraining {
  private readonly cache = new StepCache();
  private warned = false;

  constructor(
    private readonly net: Supernet,
    private readonly optimizer: PathOptimizer,
    private readonly inputFloats: number,
    private readonly onWarning?: (message: string) => void,
  ) {}

  /**
   * Run one step of `arch` on the batch through its compiled program; null when this subnet has no
   * compiled step (the caller then runs the tfjs step). The optimizer's learning rate must be set.
   */
  async step(arch: Arch, x: Float32Array, labels: ArrayLike<number>, progress: number): Promise<CompiledStepResult | null> {
    const net = (this.net.resolve?.(arch) ?? this.net) as Supernet & Partial<CompilableNet>;
    if (typeof net.compileStep !== 'function') return this.skip('the supernet has no compiled step');
    // Samples in the batch (a token batch has one label per position).
    const batch = x.length / this.inputFloats;
    const built = this.cache.get({ arch, batch }, (shared) => CompiledStep.build(net as CompilableNet, arch, batch, this.inputFloats, this.optimizer, shared));
    if (typeof built === 'string') return this.skip(built);
    built.setBatch(x, labels instanceof Int32Array ? labels : Int32Array.from(labels));
    built.run(this.optimizer.stepValues(progress));
    this.optimizer.countUpdates(built.updated);
    const s = await built.stats();
    let n = 3;
    for (const m of built.moeReports) n += m.expertNames.length + 4;
    const packed = new Float32Array(n);
    packed[0] = s.loss;
    packed[1] = s.correct;
    packed[2] = NaN;
    let o = 3;
    for (const m of built.moeReports) {
      const len = m.expertNames.length + 4;
      packed.set(s.all.subarray(m.offset, m.offset + len), o);
      o += len;
    }
    return { packed, moe: built.moeReports };
  }

  private skip(why: string): null {
    if (!this.warned) {
      this.warned = true;
      this.onWarning?.(`compiled WebGPU step not used (${why}); such steps run through tfjs ops`);
    }
    return null;
  }

  dispose(): void {
    this.cache.dispose();
  }
}
