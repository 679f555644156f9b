/**
 * The transformer blocks inside a supernet: the pre-LN composition, causality through the whole model
 * (MoE FFN included), per-token logits, MoE over B·T tokens, parameter counts against the variables a
 * choice's gradient reaches, and shape / space errors that name the block or field.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { largestArch, smallestArch } from '../../space/archCodec.js';
import type { Arch, SearchSpace, SearchSpaceInput } from '../../space/SearchSpace.js';
import { validateSpace } from '../../space/validateSpace.js';
import { supernetParams } from '../../space/validateSpace.js';
import { newForwardContext } from '../forwardContext.js';
import { buildSupernet } from '../Supernet.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

function space(doc: SearchSpaceInput): SearchSpace {
  const r = validateSpace(doc);
  if (!r.ok) throw new Error(r.issues.map((i) => `${i.path}: ${i.message}`).join('; '));
  return r.space;
}

const lm = (moe: boolean): SearchSpaceInput => ({
  name: 'tiny lm',
  input: { kind: 'tokens', length: 6, vocab: 7 },
  numClasses: 7,
  stages: [
    { id: 'embed', depth: [1], block: { type: 'tokenEmbedding', width: [8, 12], positions: 6 } },
    {
      id: 't',
      depth: [1, 2],
      block: { type: 'transformer', heads: [1, 2], headDim: 4, mlpRatio: [1, 2], causal: true, ...(moe ? { moe: { experts: 3, routing: { mode: 'topk', k: 2 } } } : {}) },
    },
  ],
});
const ids = (rows: number[][]) => tf.tensor2d(rows);

describe('transformer supernet', () => {
  it('predicts every position: logits [B·T, vocab], an MoE FFN routes all B·T tokens', () => {
    const s = space(lm(true));
    const net = buildSupernet(s);
    const out = net.apply(ids([[1, 2, 3, 4, 5, 6], [0, 0, 1, 1, 2, 2]]), largestArch(s), { training: true });
    expect(out.logits.shape).toEqual([12, 7]);
    expect(out.moe.length).toBe(2);
    expect(out.moe[0]!.topExpert.shape).toEqual([12]);
    expect(out.auxLoss.arraySync()).toBeGreaterThan(0);
    net.dispose();
  });

  for (const moe of [false, true]) {
    it(`is causal end to end (${moe ? 'MoE' : 'dense'} FFN): a later token moves no earlier logit`, () => {
      const s = space(lm(moe));
      const net = buildSupernet(s);
      const a = net.apply(ids([[1, 2, 3, 4, 5, 6]]), largestArch(s), { training: false }).logits.arraySync();
      const b = net.apply(ids([[1, 2, 3, 0, 5, 6]]), largestArch(s), { training: false }).logits.arraySync();
      const moved = (t: number) => Math.max(...a[t]!.map((v, j) => Math.abs(v - b[t]![j]!)));
      for (const t of [0, 1, 2]) expect(moved(t)).toBe(0);
      expect(moved(3)).toBeGreaterThan(1e-6);
      net.dispose();
    });
  }

  it('a block is h = x + Attn(LN₁ x), y = h + FFN(LN₂ h) (the composition written out with its own modules and weights)', () => {
    const s = space(lm(false));
    const net = buildSupernet(s);
    const block = net.blocks[1]![0]! as unknown as {
      apply: (x: tf.Tensor, c: object, ctx: ReturnType<typeof newForwardContext>) => tf.Tensor;
      ln1: { apply: (x: tf.Tensor3D) => tf.Tensor3D };
      ln2: { apply: (x: tf.Tensor3D) => tf.Tensor3D };
      attn: { apply: (x: tf.Tensor3D, c: { heads: number }) => tf.Tensor3D };
    };
    const v = net.namedVariables();
    const x = tf.randomNormal([2, 6, 8], 0, 1, 'float32', 3) as tf.Tensor3D;
    const got = block.apply(x, { heads: 2, mlpRatio: 2 }, newForwardContext());
    const h = tf.add(x, block.attn.apply(block.ln1.apply(x), { heads: 2 })) as tf.Tensor3D;
    const rows = tf.reshape(block.ln2.apply(h), [12, 8]) as tf.Tensor2D;
    const w1 = v.get('t.b0.transformer.ffn.w1')!.slice([0, 0], [8, 16]) as tf.Tensor2D;
    const b1 = v.get('t.b0.transformer.ffn.b1')!.slice(0, 16);
    const w2 = v.get('t.b0.transformer.ffn.w2')!.slice([0, 0], [16, 8]) as tf.Tensor2D;
    const b2 = v.get('t.b0.transformer.ffn.b2')!.slice(0, 8);
    const up = tf.add(tf.matMul(rows, w1), b1);
    const gelu = tf.mul(up, tf.mul(0.5, tf.add(1, tf.erf(tf.div(up, Math.SQRT2)))));
    const want = tf.add(h, tf.reshape(tf.add(tf.matMul(gelu as tf.Tensor2D, w2), b2), [2, 6, 8]));
    expect(tf.max(tf.abs(tf.sub(got, want))).arraySync()).toBeLessThan(1e-5);
    net.dispose();
  });

  it('countParams of a choice is what its slices hold (written out by hand); the largest subnet holds the supernet', () => {
    const s = space(lm(false));
    const net = buildSupernet(s);
    const arch: Arch = { stages: [{ depth: 1, blocks: [{ width: 8 }] }, { depth: 1, blocks: [{ heads: 1, mlpRatio: 2 }] }] };
    // Embedding: vocab 7 and 6 positions × d 8. Block: two layer norms 2·2·8, Q/K/V 3·(8·4 + 4), O 4·8 + 8,
    // FFN 8·16 + 16 + 16·8 + 8. Head 8·7 + 7.
    const want = 13 * 8 + (32 + 3 * 36 + 40 + (128 + 16 + 128 + 8)) + 63;
    expect(net.countParams(arch)).toBe(want);
    // And every weight a one-sequence step's gradient reaches is one of them (plus nothing else): the unused
    // token row (id 0) is the only part of the slice without a gradient.
    const { grads } = tf.variableGrads(() => tf.sum(tf.square(net.apply(ids([[1, 2, 3, 4, 5, 6]]), arch, { training: true }).logits)) as tf.Scalar, net.trainableVariables());
    let touched = 0;
    for (const g of Object.values(grads)) for (const e of g.dataSync()) if (e !== 0) touched++;
    expect(touched).toBeLessThanOrEqual(want - 8);
    expect(touched).toBeGreaterThan(want - 8 - 4 - 1); // the key bias' gradient is analytically 0 (softmax shift), numerically tiny
    // supernetParams bounds a block's input by max(stage input, block output) (identity ops, deeper blocks),
    // so it counts the token table at max(vocab 7, width 12) rows: (12 − 7) · 12 above what the supernet holds.
    expect(net.countParams(largestArch(s))).toBe(supernetParams(s) - (12 - 7) * 12);
    expect(net.countFlops(largestArch(s))).toBeGreaterThan(net.countFlops(smallestArch(s)));
    net.dispose();
  });

  it('names the block or the field when shapes do not fit', () => {
    const s = space(lm(false));
    const net = buildSupernet(s);
    expect(() => net.blocks[1]![0]!.apply(tf.zeros([2, 8]), { heads: 1, mlpRatio: 1 }, newForwardContext())).toThrow(/t\.b0: a transformer block reads a sequence/);
    expect(() => net.blocks[1]![0]!.apply(tf.zeros([1, 6, 8]), { heads: 3, mlpRatio: 1 }, newForwardContext())).toThrow(/t\.b0: heads 3 is not one of 1, 2/);
    net.dispose();
    const noEmbedding = validateSpace({ ...lm(false), stages: [lm(false).stages[1]!] });
    expect(noEmbedding.ok).toBe(false);
    expect(noEmbedding.issues[0]).toMatchObject({ path: 'stages[0].block.type', message: expect.stringMatching(/token ids reach it/) });
    const short = validateSpace({ ...lm(false), input: { kind: 'tokens', length: 9, vocab: 7 } });
    expect(short.issues.map((i) => i.path)).toContain('stages[0].block.positions');
  });
});
