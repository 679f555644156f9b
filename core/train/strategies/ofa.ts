/**
 * Once-for-All progressive shrinking (Cai et al., ICLR 2020, §3.2; mit-han-lab/once-for-all
 * train_ofa_net.py): train the largest network first, then let the dimensions shrink one kind at a time,
 * largest first: elastic kernel, then elastic depth (the two deepest choices, then all), then elastic
 * width (the two widest, then all). At the start of each width phase the channels are sorted by importance
 * (core/nn/channelSorting.ts: L1 norm of the weights reading them), so a narrow subnet keeps the most
 * important channels. Every shrunk subnet learns from the hard labels and from the largest subnet's soft
 * labels: loss = CE + KD_RATIO · softCE(student, teacher) (OFA's kd_ratio = 1.0, soft targets at T = 1).
 *
 * Phase lengths are proportional to OFA's ImageNet epochs (full 180, kernel 120, depth 25 + 120, width
 * 25 + 120); each step trains the largest plus OFA's dynamic_batch_size = 2 sampled subnets (1 in the
 * kernel phase, as OFA). Identity ops count as depth (a skipped block), MoE expert hidden sizes as width.
 *
 * Deviations: OFA's teacher is the frozen network of the first phase; here it is the largest subnet on
 * the same batch (inplace, as BigNAS), trained on the labels in the same step, so no second copy of the
 * weights has to be kept and checkpointed. The elastic-kernel transformation matrices (a learnt 25×25 /
 * 9×9 map from the larger kernel's centre) belong to the supernet: a conv block has them with
 * `kernelTransform: true` (core/nn/blocks/conv.ts); without it a smaller kernel is the plain centre crop.
 */
import * as tf from '@tensorflow/tfjs';
import { channelSortPermutations, permuteVariables } from '../../nn/channelSorting.js';
import { largestArch } from '../../space/archCodec.js';
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
  /** Sampled subnets per step besides the largest. */
  subnets: number;
}

export const OFA_PHASES: readonly OfaPhase[] = [
  { name: 'full', epochs: 180, kernel: 1, depth: 1, width: 1, subnets: 0 },
  { name: 'kernel', epochs: 120, kernel: Infinity, depth: 1, width: 1, subnets: 1 },
  { name: 'depth-1', epochs: 25, kernel: Infinity, depth: 2, width: 1, subnets: 2 },
  { name: 'depth-2', epochs: 120, kernel: Infinity, depth: Infinity, width: 1, subnets: 2 },
  { name: 'width-1', epochs: 25, kernel: Infinity, depth: Infinity, width: 2, subnets: 2 },
  { name: 'width-2', epochs: 120, kernel: Infinity, depth: Infinity, width: Infinity, subnets: 2 },
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
      const blocks: BlockChoice[] = [];
      for (let j = 0; j < depth; j++) {
        const top = largest.stages[i]!.blocks[0]!;
        if (b.type === 'moe') blocks.push({ expertHidden: rng.pick(allowed(b.expertHidden, phase.width)) });
        else if (b.type === 'dense' || b.type === 'conv') {
          const ops = b.ops as readonly string[];
          // A skipped block (identity) is elastic depth.
          if (phase.depth > 1 && ops.includes('identity') && rng.pick(ops) === 'identity') blocks.push({ op: 'identity' });
          else if (b.type === 'dense') blocks.push({ op: top.op, width: rng.pick(allowed(b.width, phase.width)) });
          else blocks.push({ op: top.op, channels: rng.pick(allowed(b.channels, phase.width)), kernel: rng.pick(allowed(b.kernel, phase.kernel)) });
        } else blocks.push(top);
      }
      return { depth, blocks };
    }),
  };
}

export interface OfaState {
  /** Phases whose channel sorting is done (so a resumed run does not sort twice). */
  sorted: string[];
}

export const ofa: TrainingStrategy = defineStrategy<OfaState>({
  name: 'ofa',
  paper: 'Cai et al., Once-for-All: Train One Network and Specialize it for Efficient Deployment (2020)',
  init: () => ({ sorted: [] }),
  beforeStep(ctx, { net, optimizer }) {
    const phase = OFA_PHASES[ofaPhaseIndex(ctx.progress)]!;
    if (!phase.name.startsWith('width') || ctx.state.sorted.includes(phase.name)) return;
    const vars = net.namedVariables();
    const perms = channelSortPermutations(ctx.space, vars);
    permuteVariables(vars, perms);
    for (const p of perms) optimizer.permute(p.variable, p.axis, p.perm);
    ctx.state.sorted.push(phase.name);
  },
  plan({ space, rng, largest, progress }) {
    const phase = OFA_PHASES[ofaPhaseIndex(progress)]!;
    const arches = [largest, ...Array.from({ length: phase.subnets }, () => sampleInPhase(space, rng, phase))];
    return { arches, reported: arches.length > 1 ? 1 : 0 };
  },
  loss({ index, logits, taskLoss, earlier }) {
    if (index === 0) return { total: taskLoss };
    const kd = softCrossEntropy(logits, earlier[0]!);
    return { total: tf.add(taskLoss, tf.mul(kd, KD_RATIO)) as tf.Scalar, kd };
  },
  report: ({ progress }) => ({ phase: ofaPhaseIndex(progress) }),
}) as TrainingStrategy;
