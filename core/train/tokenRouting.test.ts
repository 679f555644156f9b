/**
 * Token routing against an independent computation: each MoE layer's input is captured on the way in,
 * its router logits x·W recomputed by hand, and the top-k of softmax(x·W) (gates renormalised over the k)
 * must be the experts and gates the view reports for every token, in the batch's row order.
 */
import * as tf from '@tensorflow/tfjs';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadDataset } from '../data/Dataset.js';
import { buildSupernet } from '../nn/Supernet.js';
import { DatasetConfig, TokenRouting } from '../protocol/protocol.js';
import { largestArch, smallestArch } from '../space/archCodec.js';
import { encodePrompt, generateFromPrompt, routedSlots, tokenRoutingOf } from './tokenRouting.js';
import { captureMoEInputs, handTopK, lmSpace, routerLogits } from './tokenRoutingFixture.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});
afterEach(() => vi.restoreAllMocks());

describe('tokenRoutingOf', () => {
  it('reports, per token and MoE layer, the top-k of the router logits recomputed from the layer input', async () => {
    const ds = await loadDataset(DatasetConfig.parse({ kind: 'sequence-tasks', length: 3, symbols: 4, samples: 120 }));
    const T = ds.inputShape[0]!;
    const space = lmSpace(ds.numClasses, T);
    const net = buildSupernet(space);
    const inputs = captureMoEInputs();
    for (const arch of [largestArch(space), smallestArch(space)]) {
      inputs.length = 0;
      const r = TokenRouting.parse(tokenRoutingOf(net, arch, ds, { runId: 'r', offset: 3, samples: 5 }));
      expect(r.tokenKind).toBe('symbol');
      expect(r.layers.length).toBe(inputs.length);
      expect(r.sequences.map((s) => s.sample)).toEqual([3, 4, 5, 6, 7]);
      expect(r.sequences[0]!.group).toBe(ds.tokens!.groupNames[ds.val.groups![3]!]);
      inputs.forEach((input, l) => {
        const want = handTopK(routerLogits(input, 3), 2);
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
