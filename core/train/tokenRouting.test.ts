/**
 * Token routing against an independent computation: each MoE layer's input is captured on the way in,
 * its router logits x·W recomputed by hand, and the top-k of softmax(x·W) (gates renormalised over the k)
 * must be the experts and gates the view reports for every token, in the batch's row order.
 */
import * as tf from '@tensorflow/tfjs';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadDataset } from '../data/Dataset.js';
import { MoELayer } from '../nn/moe/MoELayer.js';
import { buildSupernet } from '../nn/Supernet.js';
import { DatasetConfig, TokenRouting } from '../protocol/protocol.js';
import { largestArch, smallestArch } from '../space/archCodec.js';
import { validateSpace } from '../space/validateSpace.js';
import { encodePrompt, generateFromPrompt, routedSlots, tokenRoutingOf } from './tokenRouting.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});
afterEach(() => vi.restoreAllMocks());

function lmSpace(vocab: number, length: number, causal = true) {
  const r = validateSpace({
    name: 'tiny moe lm',
    input: { kind: 'tokens', length, vocab },
    numClasses: vocab,
    stages: [
      { id: 'embed', depth: [1], block: { type: 'tokenEmbedding', width: [8, 12], positions: length } },
      { id: 't', depth: [1, 2], block: { type: 'transformer', heads: [1, 2], headDim: 4, mlpRatio: [1, 2], causal, moe: { experts: 3, routing: { mode: 'topk', k: 2 } } } },
    ],
  });
  if (!r.ok) throw new Error(r.issues.map((i) => `${i.path}: ${i.message}`).join('; '));
  return r.space;
}

/** Hand top-k of softmax(logits) per row, gates renormalised over the chosen, highest first. */
function handTopK(logits: number[][], k: number): { experts: number[]; gates: number[] }[] {
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

describe('tokenRoutingOf', () => {
  it('reports, per token and MoE layer, the top-k of the router logits recomputed from the layer input', async () => {
    const ds = await loadDataset(DatasetConfig.parse({ kind: 'sequence-tasks', length: 3, symbols: 4, samples: 120 }));
    const T = ds.inputShape[0]!;
    const space = lmSpace(ds.numClasses, T);
    const net = buildSupernet(space);
    const inputs: { layer: MoELayer; x: number[][] }[] = [];
    const original = MoELayer.prototype.apply;
    vi.spyOn(MoELayer.prototype, 'apply').mockImplementation(function (this: MoELayer, ...args: Parameters<MoELayer['apply']>) {
      inputs.push({ layer: this, x: args[0].arraySync() });
      return original.apply(this, args);
    });
    for (const arch of [largestArch(space), smallestArch(space)]) {
      inputs.length = 0;
      const r = TokenRouting.parse(tokenRoutingOf(net, arch, ds, { runId: 'r', offset: 3, samples: 5 }));
      expect(r.tokenKind).toBe('symbol');
      expect(r.layers.length).toBe(inputs.length);
      expect(r.sequences.map((s) => s.sample)).toEqual([3, 4, 5, 6, 7]);
      expect(r.sequences[0]!.group).toBe(ds.tokens!.groupNames[ds.val.groups![3]!]);
      inputs.forEach(({ layer, x }, l) => {
        const d = x[0]!.length;
        const W = layer.router.arraySync() as number[][];
        const logits = x.map((row) => [0, 1, 2].map((j) => row.reduce((a, v, i) => a + v * W[i]![j]!, 0)));
        const want = handTopK(logits, 2);
        expect(d).toBeGreaterThan(0);
        r.sequences.forEach((s, b) =>
          s.tokens.forEach((tok, t) => {
            const w = want[b * T + t]!;
            expect(tok.layers[l]!.experts).toEqual(w.experts);
            tok.layers[l]!.gates.forEach((g, j) => expect(g).toBeCloseTo(w.gates[j]!, 5));
          }),
        );
      });
      // The token text is the vocabulary entry of the sample's id.
      const tok = r.sequences[1]!.tokens[2]!;
      expect(tok.text).toBe(ds.tokens!.vocab[ds.val.x[4 * T + 2]!]);
    }
    net.dispose();
  });

  it('routedSlots orders the used slots by gate, highest first', () => {
    expect(routedSlots([1, 0, 1, 1, 1, 0], [0.2, 0, 0.8, 0.5, 0.5, 0], 2, 3)).toEqual([
      { experts: [2, 0], gates: [0.8, 0.2] },
      { experts: [0, 1], gates: [0.5, 0.5] },
    ]);
  });

  it('refuses a dataset that is not a token workload, naming it', async () => {
    const ds = await loadDataset(DatasetConfig.parse({ kind: 'spirals', samples: 64 }));
    const net = buildSupernet(lmSpace(4, 4));
    expect(() => tokenRoutingOf(net, largestArch(net.space), ds, { runId: 'r', offset: 0, samples: 2 })).toThrow(/spirals: not a token workload/);
    net.dispose();
  });
});

describe('generation from a prompt', () => {
  it('greedy continuation = argmax of the subnet\'s last-position logits, fed back token by token', async () => {
    const vocab = ['a', 'b', 'c', '<unk>', '<eod>'];
    const space = lmSpace(vocab.length, 6);
    const net = buildSupernet(space);
    const arch = largestArch(space);
    const r = await generateFromPrompt(net, { runId: 'r', arch, prompt: 'abz', maxNewTokens: 5, temperature: 0, topK: 0, seed: 1 }, vocab);
    expect(r.unknownChars).toEqual(['z']);
    // Independent loop: the full forward over the (cropped) context, argmax of the last row.
    const ids = [0, 1, 3];
    const want: number[] = [];
    for (let i = 0; i < 5; i++) {
      const ctx = ids.slice(-6);
      const logits = net.apply(tf.tensor2d([ctx], [1, ctx.length]), arch, { training: false }).logits.arraySync();
      const last = logits[ctx.length - 1]!;
      const t = last.indexOf(Math.max(...last));
      ids.push(t);
      want.push(t);
      if (t === 4) break;
    }
    expect(r.tokens).toEqual(want);
    expect(r.text).toBe(want.map((t) => vocab[t]).join(''));
    net.dispose();
  });

  it('refuses a bidirectional transformer, naming the stage', async () => {
    const net = buildSupernet(lmSpace(4, 4, false));
    await expect(generateFromPrompt(net, { runId: 'r', arch: largestArch(net.space), prompt: 'a', maxNewTokens: 2, temperature: 0, topK: 0, seed: 1 }, ['a', 'b', '<unk>', '<eod>'])).rejects.toThrow(/space\.stages\.t: a transformer that is not causal/);
    expect(encodePrompt('ab', ['a', 'b']).ids).toEqual([0, 1]);
    net.dispose();
  });
});
