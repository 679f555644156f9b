/**
 * Size of a (compressed) subnet graph: parameters and bits as stored. Float layers cost 32 bits a number;
 * a dense layer a method annotated with `storage` costs what it says; a merged expert that several router
 * slots share (one `Ffn` object) is stored once.
 */
import { countGraphParams, type Ffn, type SubnetGraph, type SubnetOp } from '../export/subnetGraph.js';
import type { CompressedDense } from './CompressionMethod.js';

export interface GraphSize {
  params: number;
  bits: number;
}

function denseSize(w: CompressedDense): GraphSize {
  if (w.storage) return w.storage;
  const params = w.kernel.length + (w.bias?.length ?? 0);
  return { params, bits: 32 * params };
}

function ffnParams(f: Ffn): number {
  return f.up.kernel.length + (f.up.bias?.length ?? 0) + f.down.kernel.length + (f.down.bias?.length ?? 0);
}

function* ffns(ops: readonly SubnetOp[]): Generator<Ffn> {
  for (const o of ops) {
    if (o.op === 'residual') yield* ffns(o.body);
    if (o.op !== 'moe') continue;
    for (const s of o.slots) if (s.kind === 'expert') yield s.ffn;
    yield* o.shared;
  }
}

export function graphSize(graph: SubnetGraph): GraphSize {
  // Everything countGraphParams counts, at 32 bits, with each expert FFN occurrence swapped for its stored size once.
  let floatParams = countGraphParams(graph);
  let params = 0;
  let bits = 0;
  const seen = new Set<Ffn>();
  for (const f of ffns(graph.ops)) {
    floatParams -= ffnParams(f);
    if (seen.has(f)) continue;
    seen.add(f);
    for (const d of [f.up, f.down]) {
      const s = denseSize(d);
      params += s.params;
      bits += s.bits;
    }
  }
  return { params: params + floatParams, bits: bits + 32 * floatParams };
}
