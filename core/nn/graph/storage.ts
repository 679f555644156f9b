/**
 * Size of a (compressed or quantised) subnet graph: parameters and bits as stored. Float layers cost 32 bits
 * a number; a dense layer annotated with `storage` (a compression method's rewrite, or a block's `bits`
 * choice: ./quantize.ts) costs what it says; a merged expert that several router slots share (one `Ffn`
 * object) is stored once. (Moved from core/compress/storage.ts so search can price the `bits` objective.)
 */
import { countGraphParams } from './evaluate.js';
import type { DenseWeights, Ffn, SubnetGraph, SubnetOp } from './ops.js';
import type { CompressedDense } from './quantize.js';

export interface GraphSize {
  params: number;
  bits: number;
}

const floatParams = (w: DenseWeights) => w.kernel.length + (w.bias?.length ?? 0);

function denseSize(w: CompressedDense): GraphSize {
  return w.storage ?? { params: floatParams(w), bits: 32 * floatParams(w) };
}

/** Every occurrence of the dense layers compression or quantisation may rewrite: dense ops, expert kernels (per FFN object) and routers. */
function* rewritable(ops: readonly SubnetOp[]): Generator<{ ffn: Ffn } | { dense: DenseWeights }> {
  for (const o of ops) {
    if (o.op === 'residual') yield* rewritable(o.body);
    if (o.op === 'dense') yield { dense: o.weights };
    if (o.op !== 'moe') continue;
    yield { dense: o.router };
    for (const s of o.slots) if (s.kind === 'expert') yield { ffn: s.ffn };
    for (const f of o.shared) yield { ffn: f };
  }
}

export function graphSize(graph: SubnetGraph): GraphSize {
  // Everything countGraphParams counts at 32 bits, with each occurrence of a rewritable layer swapped for
  // its stored size, once per distinct object.
  let rest = countGraphParams(graph);
  let params = 0;
  let bits = 0;
  const seen = new Set<object>();
  const add = (d: DenseWeights) => {
    const s = denseSize(d);
    params += s.params;
    bits += s.bits;
  };
  for (const r of rewritable(graph.ops)) {
    const obj = 'ffn' in r ? r.ffn : r.dense;
    const layers = 'ffn' in r ? [r.ffn.up, r.ffn.down] : [r.dense];
    for (const d of layers) rest -= floatParams(d);
    if (seen.has(obj)) continue;
    seen.add(obj);
    layers.forEach(add);
  }
  return { params: params + rest, bits: bits + 32 * rest };
}
