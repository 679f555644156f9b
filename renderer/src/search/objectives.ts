import { formatAccuracy } from '../../../core/protocol/accuracyInterval.js';
import type { EvaluatedSubnet, Objective } from '../../../core/protocol/protocol.js';
import { fmt } from '../charts/LineChart.js';

export const OBJECTIVES: readonly Objective[] = ['accuracy', 'latency', 'params', 'flops', 'bits'];

export const OBJECTIVE_LABEL: Record<Objective, string> = {
  accuracy: 'accuracy',
  latency: 'latency (ms)',
  params: 'parameters',
  flops: 'FLOPs',
  bits: 'size (bits)',
};

export function objectiveValue(s: EvaluatedSubnet, o: Objective): number {
  switch (o) {
    case 'accuracy':
      return s.accuracy;
    case 'latency':
      return s.latencyMs;
    case 'params':
      return s.params;
    case 'flops':
      return s.flops;
    case 'bits':
      return s.bits ?? 32 * s.params;
  }
}

/**
 * A subnet's accuracy as "85.3 % ± 0.7 (val, n=5000)" when its search recorded the interval (searches
 * from before validation splits did not: then the bare number).
 */
export function accuracyText(s: Pick<EvaluatedSubnet, 'accuracy' | 'ci95' | 'n' | 'split'>): string {
  return s.ci95 && s.n !== undefined ? formatAccuracy({ accuracy: s.accuracy, ci95: s.ci95, n: s.n, split: s.split ?? 'val' }) : fmt(s.accuracy);
}

/** Accuracy is maximised, every other objective minimised (SearchConfig's convention). */
export const maximised = (o: Objective) => o === 'accuracy';

/** The front's members ordered along `x`, for drawing the staircase between them. */
export function frontPoints(evaluated: readonly EvaluatedSubnet[], front: readonly number[], x: Objective): EvaluatedSubnet[] {
  const ids = new Set(front);
  return evaluated.filter((s) => ids.has(s.id)).sort((a, b) => objectiveValue(a, x) - objectiveValue(b, x));
}

/** One-line description of a subnet's architecture: `d2[64,32] | d1[e128]` (`×4`: an MoE block's PR-MoE expert count). */
export function describeArch(s: Pick<EvaluatedSubnet, 'arch'>): string {
  return s.arch.stages
    .map(
      (st) =>
        `d${st.depth}[` +
        st.blocks
          .map((b) =>
            [b.op && b.op !== 'dense' && b.op !== 'conv' ? b.op : null, b.width, b.channels && `${b.channels}c`, b.kernel && `k${b.kernel}`, b.expertHidden && `e${b.expertHidden}`, b.experts && `×${b.experts}`]
              .filter((v) => v !== null && v !== undefined)
              .join(' '),
          )
          .join(',') +
        ']',
    )
    .join(' | ');
}
