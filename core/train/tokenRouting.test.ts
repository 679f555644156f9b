/**
 * Token routing against an independent computation: each MoE layer's input is captured on the way in,
 * its router logits x·W recomputed by hand, and the top-k of softmax(x·W) (gates renormalised over the k)
 * must be the experts and gates the view reports for every token, in the batch's row order.
 */
import * as tf from '@tensorflow/tfjs';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadDataset } from '../data/Dataset.js';
import type { Dataset } from '../data/DatasetContract.js';
import { MoELayer } from '../nn/moe/MoELayer.js';
import { buildSupernet } from '../nn/Supernet.js';
import { DatasetConfig, TokenRouting } from '../protocol/protocol.js';
import { largestArch, smallestArch } from '../space/archCodec.js';
import { validateSpace } from '../space/validateSpace.js';
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

  it('the fused route (moeFfn) reports the same experts and gates at inference as the sparse one', async () => {
    const ds = await loadDataset(DatasetConfig.parse({ kind: 'sequence-tasks', length: 3, symbols: 4, samples: 120 }));
    // ReLU experts: the fused kernels' activation.
    const space = lmSpace(ds.numClasses, ds.inputShape[0]!, true, { activation: 'relu' });
    const net = buildSupernet(space);
    const original = MoELayer.prototype.apply;
    const routed = (dispatch: 'sparse' | 'fused') => {
      const spy = vi.spyOn(MoELayer.prototype, 'apply').mockImplementation(function (this: MoELayer, ...args: Parameters<MoELayer['apply']>) {
        this.dispatch = dispatch;
        return original.apply(this, args);
      });
      const r = tokenRoutingOf(net, largestArch(space), ds, { runId: 'r', offset: 0, samples: 4 });
      spy.mockRestore();
      return r.sequences.flatMap((s) => s.tokens.map((t) => t.layers));
    };
    const sparse = routed('sparse');
    const fused = routed('fused');
    expect(fused.map((ls) => ls.map((l) => l.experts))).toEqual(sparse.map((ls) => ls.map((l) => l.experts)));
    fused.forEach((ls, i) => ls.forEach((l, j) => l.gates.forEach((g, k) => expect(g).toBeCloseTo(sparse[i]![j]!.gates[k]!, 5))));
    net.dispose();
  });

  it('image patches: tokens are patch indices with their pixels in a grid, routed over the N·T rows', () => {
    // A 4×4 image as 2×2 patches of 2×2 pixels: inputShape [4 tokens, 4 pixels].
    const split = (n: number) => ({ x: Float32Array.from({ length: n * 16 }, (_, i) => (i % 7) / 7), y: new Int32Array(n), n });
    const ds: Dataset = { kind: 'fashion-mnist', train: split(2), val: split(3), test: split(2), inputShape: [4, 4], numClasses: 3, classNames: ['a', 'b', 'c'] };
    const r = validateSpace({
      name: 'tiny vit',
      input: { kind: 'sequence', length: 4, dim: 4 },
      numClasses: 3,
      stages: [
        { id: 'patch', depth: [1], block: { type: 'patchEmbedding', width: [8], positions: 4 } },
        { id: 'm', depth: [1], block: { type: 'transformer', heads: [2], headDim: 4, mlpRatio: [2], moe: { experts: 3, routing: { mode: 'topk', k: 1 } } } },
      ],
    });
    if (!r.ok) throw new Error(r.issues[0]!.message);
    const net = buildSupernet(r.space);
    const inputs = captureMoEInputs();
    const out = TokenRouting.parse(tokenRoutingOf(net, largestArch(r.space), ds, { runId: 'r', offset: 1, samples: 2 }));
    expect(out.tokenKind).toBe('patch');
    const s1 = out.sequences[1]!;
    expect(s1.tokens.map((t) => t.text)).toEqual(['0', '1', '2', '3']);
    expect(s1.patches).toMatchObject({ rows: 2, cols: 2, size: 2 });
    // Sample 2's third patch: features 8..11 of its 16.
    expect(s1.patches!.pixels[2]).toEqual(Array.from(ds.val.x.subarray(2 * 16 + 8, 2 * 16 + 12)));
    const want = handTopK(routerLogits(inputs[0]!, 3), 1);
    out.sequences.forEach((s, b) => s.tokens.forEach((t, i) => expect(t.layers[0]!.experts).toEqual(want[b * 4 + i]!.experts)));
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

  it('stops at the next token once the signal is aborted', async () => {
    const vocab = ['a', 'b', '<unk>', '<eod>'];
    const net = buildSupernet(lmSpace(vocab.length, 6));
    const ctl = new AbortController();
    const calls = vi.spyOn(net, 'apply');
    const p = generateFromPrompt(net, { runId: 'r', arch: largestArch(net.space), prompt: 'ab', maxNewTokens: 100, temperature: 1, topK: 0, seed: 1 }, vocab, ctl.signal);
    ctl.abort();
    await expect(p).rejects.toThrow(/abort/i);
    expect(calls).not.toHaveBeenCalled();
    net.dispose();
  });

  it('refuses a bidirectional transformer, naming the stage', async () => {
    const net = buildSupernet(lmSpace(4, 4, false));
    await expect(generateFromPrompt(net, { runId: 'r', arch: largestArch(net.space), prompt: 'a', maxNewTokens: 2, temperature: 0, topK: 0, seed: 1 }, ['a', 'b', '<unk>', '<eod>'])).rejects.toThrow(/space\.stages\.t: a transformer that is not causal/);
    expect(encodePrompt('ab', ['a', 'b']).ids).toEqual([0, 1]);
    net.dispose();
  });
});
