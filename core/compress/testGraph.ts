/** A small vector → dense → MoE (4 experts, top-2) → head graph for the pass tests (a fixture). */
import type { MoEOp, SubnetGraph } from '../nn/graph/evaluate.js';
import { randomExpert } from './testExperts.js';
import { createRng } from '../space/rng.js';

export function tinyMoEGraph(seed = 1, experts = 4): SubnetGraph {
  const rng = createRng(seed);
  const arr = (n: number, s = 0.5) => Float32Array.from({ length: n }, () => rng.normal() * s);
  const moe: MoEOp = {
    op: 'moe',
    name: 'moe0',
    dim: 8,
    router: { kernel: arr(8 * experts), bias: arr(experts, 0.1), inDim: 8, outDim: experts },
    slots: Array.from({ length: experts }, (_, i) => ({ kind: 'expert' as const, name: `e${i}`, ffn: { ...randomExpert(8, 6, seed * 100 + i, 0.4), activation: 'relu' as const } })),
    shared: [],
    gating: { mode: 'topk', k: 2 },
    normalize: true,
    gateResidual: null,
  };
  return {
    input: { kind: 'vector', dim: 6 },
    numClasses: 3,
    ops: [
      { op: 'dense', name: 'd0', weights: { kernel: arr(48), bias: arr(8), inDim: 6, outDim: 8 } },
      { op: 'activation', name: 'd0.act', fn: 'relu' },
      { op: 'residual', name: 'moe0.residual', body: [moe] },
      { op: 'dense', name: 'head', weights: { kernel: arr(24), bias: arr(3), inDim: 8, outDim: 3 } },
    ],
  };
}
