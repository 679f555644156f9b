/**
 * Test helpers of the token-routing tests (core/train/tokenRouting.test.ts, core/host/tokenRouting.host.test.ts):
 * a tiny causal MoE language-model space, the MoE layers' inputs captured on the way in, and the top-k
 * routing recomputed by hand from x·W — the independent side of the comparison.
 */
import { vi } from 'vitest';
import { MoELayer } from '../nn/moe/MoELayer.js';
import { validateSpace } from '../space/validateSpace.js';
import type { SearchSpace } from '../space/SearchSpace.js';

/** Embedding (width 8 or 12) and 1–2 transformer blocks whose FFN is a 3-expert top-2 MoE (`moe` overrides its fields). */
export function lmSpace(vocab: number, length: number, causal = true, moe: Record<string, unknown> = {}): SearchSpace {
  const r = validateSpace({
    name: 'tiny moe lm',
    input: { kind: 'tokens', length, vocab },
    numClasses: vocab,
    stages: [
      { id: 'embed', depth: [1], block: { type: 'tokenEmbedding', width: [8, 12], positions: length } },
      { id: 't', depth: [1, 2], block: { type: 'transformer', heads: [1, 2], headDim: 4, mlpRatio: [1, 2], causal, moe: { experts: 3, routing: { mode: 'topk', k: 2 }, ...moe } } },
    ],
  });
  if (!r.ok) throw new Error(r.issues.map((i) => `${i.path}: ${i.message}`).join('; '));
  return r.space;
}

export interface CapturedInput {
  /** [tokens, d] the layer's input rows. */
  x: number[][];
  /** The layer's router kernel at that moment (read then: its owner may dispose it). */
  router: number[][];
}

/** Records every MoELayer.apply's input from now on (vi.restoreAllMocks undoes it). */
export function captureMoEInputs(): CapturedInput[] {
  const inputs: CapturedInput[] = [];
  const original = MoELayer.prototype.apply;
  vi.spyOn(MoELayer.prototype, 'apply').mockImplementation(function (this: MoELayer, ...args: Parameters<MoELayer['apply']>) {
    inputs.push({ x: args[0].arraySync(), router: this.router.arraySync() as number[][] });
    return original.apply(this, args);
  });
  return inputs;
}

/** x·W over the first `experts` router columns, by hand. */
export function routerLogits({ router: W, x }: CapturedInput, experts: number): number[][] {
  return x.map((row) => Array.from({ length: experts }, (_, j) => row.reduce((a, v, i) => a + v * W[i]![j]!, 0)));
}

/** Hand top-k of softmax(logits) per row, gates renormalised over the chosen, highest first. */
export function handTopK(logits: number[][], k: number): { experts: number[]; gates: number[] }[] {
  return logits.map((row) => {
    const m = Math.max(...row);
    const e = row.map((v) => Math.exp(v - m));
    const z = e.reduce((a, b) => a + b, 0);
    const p = e.map((v) => v / z);
    const order = p.map((_, i) => i).sort((a, b) => p[b]! - p[a]! || a - b).slice(0, k);
    const s = order.reduce((a, i) => a + p[i]!, 0);
    return { experts: order, gates: order.map((i) => p[i]! / s) };
  });
}
