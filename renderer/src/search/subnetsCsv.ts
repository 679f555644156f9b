import type { EvaluatedSubnet } from '../../../core/protocol/protocol.js';
import { toCsv } from '../charts/download.js';
import { describeArch } from './objectives.js';

/**
 * A search's evaluated subnets as a table (one row each, by id): every objective, the accuracy's split,
 * sample count and 95 % interval where recorded, feasibility, front membership, the architecture as
 * text and as the encoded choice vector.
 */
export function subnetsCsv(evaluated: readonly EvaluatedSubnet[], front: readonly number[]): string {
  const onFront = new Set(front);
  const header = ['id', 'generation', 'accuracy', 'split', 'n', 'ci95_low', 'ci95_high', 'latency_ms', 'latency_lut_ms', 'params', 'flops', 'bits', 'feasible', 'on_front', 'rank', 'arch', 'vector'];
  const rows = [...evaluated]
    .sort((a, b) => a.id - b.id)
    .map((s) => [
      s.id,
      s.generation,
      s.accuracy,
      s.split,
      s.n,
      s.ci95?.[0],
      s.ci95?.[1],
      s.latencyMs,
      s.latencyLutMs,
      s.params,
      s.flops,
      s.bits,
      s.feasible,
      onFront.has(s.id),
      s.rank,
      describeArch(s),
      s.vector.join(' '),
    ]);
  return toCsv(header, rows);
}
