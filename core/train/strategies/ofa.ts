/**
 * Once-for-All progressive shrinking (Cai et al., ICLR 2020, §3.2; mit-han-lab/once-for-all
 * train_ofa_net.py): train the largest network first, then let the dimensions shrink one kind at a time,
 * largest first: elastic kernel, then elastic depth (the two deepest choices, then all), then elastic
 * width (the two widest, then all). At the start of each width phase the channels are sorted by importance
 * (core/nn/channelSorting.ts: L1 norm of the weights reading them), so a narrow subnet keeps the most
 * important channels.
 *
 * Knowledge distillation follows the reference (progressive_shrinking.train_one_epoch): the teacher is the
 * full network as trained in the first phase, frozen — a copy of its weights taken when the first phase
 * ends (core/nn/OfaSupernet.ts), run in training mode without gradient on each step's batch — and every
 * sampled subnet learns from loss = CE + KD_RATIO · softCE(student, teacher) (kd_ratio 1.0, kd_type 'ce':
 * soft targets softmax(teacher logits), T = 1). The full phase trains the largest alone on the labels.
 *
 * Phase lengths are proportional to OFA's ImageNet epochs (full 180, kernel 120, depth 25 + 120, width
 * 25 + 120); each step trains OFA's dynamic_batch_size sampled subnets (kernel 1, depth 2, expand 4 in
 * train_ofa_net.py), gradients summed before one update. Identity ops count as depth (a skipped block),
 * MoE expert hidden sizes as width.
 *
 * Deviations: no label smoothing (the reference's 0.1) and the trainer's optimizer instead of SGD with
 * cosine LR per phase. The elastic-kernel transformation matrices (a learnt 25×25 / 9×9 map from the larger
 * kernel's centre) belong to the supernet: a conv block has them with `kernelTransform: true`
 * (core/nn/blocks/conv.ts); without it a smaller kernel is the plain centre crop.
 */
import * as tf from '@tensorflow/tfjs';
import { channelSortPermutations, permuteVariables } from '../../nn/channelSorting.js';
import { OfaSupernet } from '../../nn/OfaSupernet.js';
import type { Supernet } from '../../nn/types.js';
import { largestArch } from '../../space/archCodec.js';
import { describeBlock } from '../../space/blocks/registry.js';
import type { Rng } from '../../space/rng.js';
import type { Arch, BlockChoice, SearchSpace } from '../../space/SearchSpace.js';
import { softCrossEntropy } from './distillation.js';
import { defineStrategy, type TrainingStrategy } from './TrainingStrategy.js';

/** OFA's kd_ratio (train_ofa_net.py). */
export const KD_RATIO = 1.0;

/** How many of each dimension's values (largest first) a phase allows: 1 = the largest only, Infinity = all. */
export interface OfaPhase {
  name: 'full' | 'kernel' | 'depth-1' | 'depth-2' | 'width-1' | 'width-2';
  /** OFA's epochs for the phase (ImageNet); the run's steps are shared in this proportion. */
  epochs: number;
  kernel: number;
  depth: number;
  width: number;
  /** Subnets sampled per step (OFA's dynamic_batch_size); the full phase trains the largest alone. */
  subnets: number;
}

export const OFA_PHASES: readonly OfaPhase[] = [
  { name: 'full', epochs: 180, kernel: 1, depth: 1, width: 1, subnets: 1 },
  { name: 'kernel', epochs: 120, kernel: Infinity, depth: 1, width: 1, subnets: 1 },
  { name: 'depth-1', epochs: 25, kernel: Infinity, depth: 2, width: 1, subnets: 2 },
  { name: 'depth-2', epochs: 120, kernel: Infinity, depth: Infinity, width: 1, subnets: 2 },
  { name: 'width-1', epochs: 25, kernel: Infinity, depth: Infinity, width: 2, subnets: 4 },
  { name: 'width-2', epochs: 120, kernel: Infinity, depth: Infinity, width: Infinity, subnets: 4 },
];

const TOTAL_EPOCHS = OFA_PHASES.reduce((a, p) => a + p.epochs, 0);

/** The phase at a training progress in [0, 1]. */
export function ofaPhaseIndex(progress: number): number {
  let edge = 0;
  for (let i = 0; i < OFA_PHASES.length; i++) {
    edge += OFA_PHASES[i]!.epochs / TOTAL_EPOCHS;
    if (progress < edge - 1e-12) return i;
  }
  return OFA_PHASES.length - 1;
}

/** The `n` largest of a dimension's values (all of them for Infinity). */
function allowed(values: readonly number[], n: number): number[] {
  return [...values].sort((a, b) => b - a).slice(0, n);
}

/** One subnet uniform over what the phase allows (everything else at its largest). */
export function sampleInPhase(space: SearchSpace, rng: Rng, phase: OfaPhase): Arch {
  const largest = largestArch(space);
  return {
    stages: space.stages.map((stage, i) => {
      const depth = rng.pick(allowed(stage.depth, phase.depth));
      const b = stage.block;
      const d = describeBlock(b);
      const blocks: BlockChoice[] = [];
      for (let j = 0; j < depth; j++) {
        const top = largest.stages[i]!.blocks[0]!;
        // A skipped block (identity, where the block has that op) is elastic depth.
        const ops = d.ops?.(b) ?? [];
        if (phase.depth > 1 && ops.includes('identity') && rng.pick(ops) === 'identity') {
          blocks.push({ op: 'identity' });
          continue;
        }
        // The descriptor's elastic dimensions (width: dense width, conv channels, MoE expert hidden; kernel: conv
        // kernel), in codec order; the others (bits, PR-MoE's expert counts, heads) stay at the largest choice.
        const choice: BlockChoice = { ...top };
        for (const dim of d.dims(b)) if (dim.elastic) choice[dim.key] = rng.pick(allowed(dim.values, phase[dim.elastic]));
        blocks.push(choice);
      }
      return { depth, blocks };
    }),
  };
}

export interface OfaState {
  /** Phases whose channel sorting is done (so a resumed run does not sort twice). */
  sorted: string[];
  /** The step at which the teacher was frozen (the first step after the full phase); null before. */
  teacherStep: number | null;
}

function asOfa(net: Supernet): OfaSupernet {
  if (!(net instanceof OfaSupernet)) throw new Error("strategy 'ofa' needs the supernet its buildNet makes (an OfaSupernet)");
  return net;
}

export const ofa: TrainingStrategy = defineStrategy<OfaState>({
  name: 'ofa',
  paper: 'Cai et al., Once-for-All: Train One Network and Specialize it for Efficient Deployment (2020)',
  buildNet: (space, seed) => new OfaSupernet(space, seed),
  init: () => ({ sorted: [], teacherStep: null }),
  beforeStep(ctx, { net, optimizer }) {
    const ofaNet = asOfa(net);
    const index = ofaPhaseIndex(ctx.progress);
    if (index > 0 && ctx.state.teacherStep == null) {
      // The full phase is over: its network becomes the fixed teacher (before any width sorting, which
      // reorders the student's channels only and keeps its function).
      ofaNet.freezeTeacher();
      ctx.state.teacherStep = ctx.step;
    }
    const phase = OFA_PHASES[index]!;
    if (!phase.name.startsWith('width') || ctx.state.sorted.includes(phase.name)) return;
    const vars = ofaNet.student.namedVariables();
    const perms = channelSortPermutations(ctx.space, vars);
    permuteVariables(vars, perms);
    for (const p of perms) optimizer.permute(p.variable, p.axis, p.perm);
    ctx.state.sorted.push(phase.name);
  },
  plan({ space, rng, largest, progress, state }, batch) {
    const phase = OFA_PHASES[ofaPhaseIndex(progress)]!;
    if (phase.name === 'full' || state.teacherStep == null) return { arches: [largest], reported: 0 };
    if (!batch) throw new Error('ofa: plan needs the step batch (the teacher scores it)');
    const arches = Array.from({ length: phase.subnets }, () => sampleInPhase(space, rng, phase));
    const teacher = tf.tidy(() => asOfa(batch.net).applyTeacher(batch.xs, { training: true, progress }).logits);
    return { arches, reported: 0, teacher };
  },
  loss({ logits, taskLoss, teacher }) {
    if (!teacher) return { total: taskLoss };
    const kd = softCrossEntropy(logits, teacher);
    return { total: tf.add(taskLoss, tf.mul(kd, KD_RATIO)) as tf.Scalar, kd };
  },
  report: ({ progress }) => ({ phase: ofaPhaseIndex(progress) }),
}) as TrainingStrategy;
