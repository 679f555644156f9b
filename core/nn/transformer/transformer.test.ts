/**
 * The transformer modules against a plain-JS computation written from the papers' formulas (loops over
 * arrays, no tf), with elastic choices done by index bounds there rather than by tensor slices.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { createRng } from '../../space/rng.js';
import { VariableStore } from '../init.js';
import { MultiHeadAttention } from './attention.js';
import { PatchEmbedding, TokenEmbedding } from './embeddings.js';
import { LayerNorm } from './layerNorm.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

type M = number[][];
const arr = (v: tf.Tensor) => v.arraySync() as M;
const randomInput = (B: number, T: number, d: number, seed: number) => {
  const rng = createRng(seed);
  return tf.tensor3d(Array.from({ length: B * T * d }, () => rng.normal()), [B, T, d]);
};
/** Sets every variable to fresh N(0, 0.5²) values so biases are not zero and differences are large. */
const randomise = (store: VariableStore, seed: number) => {
  const rng = createRng(seed);
  for (const v of store.named().values()) v.assign(tf.tensor(Array.from({ length: v.size }, () => 0.5 * rng.normal()), v.shape));
};

/** softmax(q·kᵀ/√dₕ + mask)·v per head, heads concatenated, then O — over the first d rows and h heads. */
function plainAttention(x: number[][][], w: { q: M; k: M; v: M; o: M; bq: number[]; bk: number[]; bv: number[]; bo: number[] }, h: number, dh: number, causal: boolean): number[][][] {
  return x.map((seq) => {
    const T = seq.length;
    const d = seq[0]!.length;
    const proj = (W: M, b: number[]) => seq.map((tok) => Array.from({ length: h * dh }, (_, c) => b[c]! + tok.reduce((s, xi, i) => s + xi * W[i]![c]!, 0)));
    const Q = proj(w.q, w.bq), K = proj(w.k, w.bk), V = proj(w.v, w.bv);
    const heads = seq.map(() => new Array<number>(h * dh).fill(0));
    for (let hd = 0; hd < h; hd++) {
      for (let t = 0; t < T; t++) {
        const keys = causal ? t + 1 : T;
        const s = Array.from({ length: keys }, (_, u) => {
          let dot = 0;
          for (let c = 0; c < dh; c++) dot += Q[t]![hd * dh + c]! * K[u]![hd * dh + c]!;
          return dot / Math.sqrt(dh);
        });
        const m = Math.max(...s);
        const e = s.map((z) => Math.exp(z - m));
        const z = e.reduce((a, b) => a + b, 0);
        for (let u = 0; u < keys; u++) for (let c = 0; c < dh; c++) heads[t]![hd * dh + c]! += (e[u]! / z) * V[u]![hd * dh + c]!;
      }
    }
    return heads.map((row) => Array.from({ length: d }, (_, j) => w.bo[j]! + row.reduce((s, a, c) => s + a * w.o[c]![j]!, 0)));
  });
}

function attentionWeights(a: MultiHeadAttention) {
  return { q: arr(a.wq), k: arr(a.wk), v: arr(a.wv), o: arr(a.wo), bq: a.bq.arraySync() as number[], bk: a.bk.arraySync() as number[], bv: a.bv.arraySync() as number[], bo: a.bo.arraySync() as number[] };
}

const maxAbsDiff = (a: number[][][], b: number[][][]) => Math.max(...a.flat(2).map((v, i) => Math.abs(v - b.flat(2)[i]!)));

describe('multi-head self-attention', () => {
  const D = 8, H = 4, dh = 3, T = 5;

  for (const causal of [false, true]) {
    it(`${causal ? 'causal' : 'bidirectional'}: equals the plain computation at the full and at elastic width / heads`, () => {
      const store = new VariableStore();
      const att = new MultiHeadAttention('a', D, H, dh, causal, store, createRng(1));
      randomise(store, 2);
      const w = attentionWeights(att);
      for (const [d, h] of [[8, 4], [6, 2], [3, 1]] as const) {
        const x = randomInput(2, T, d, 3 + d);
        const got = att.apply(x, { heads: h }).arraySync();
        const want = plainAttention(x.arraySync(), w, h, dh, causal);
        expect(maxAbsDiff(got, want)).toBeLessThan(1e-4);
      }
      store.dispose();
    });
  }

  it('the causal mask really masks: a later token moves no earlier output; without the mask it does', () => {
    for (const causal of [true, false]) {
      const store = new VariableStore();
      const att = new MultiHeadAttention('a', D, H, dh, causal, store, createRng(1));
      randomise(store, 5);
      const x = randomInput(1, T, D, 9);
      const before = att.apply(x, { heads: H }).arraySync()[0]!;
      const changed = x.arraySync();
      changed[0]![3] = changed[0]![3]!.map((v) => v + 3);
      const after = att.apply(tf.tensor3d(changed), { heads: H }).arraySync()[0]!;
      const moved = (t: number) => Math.max(...before[t]!.map((v, j) => Math.abs(v - after[t]![j]!)));
      for (const t of [0, 1, 2]) {
        if (causal) expect(moved(t)).toBe(0);
        else expect(moved(t)).toBeGreaterThan(1e-3);
      }
      expect(moved(3)).toBeGreaterThan(1e-3);
      store.dispose();
    }
  });

  it('a subnet trains only its slice: gradients outside the first d rows and h heads are zero', () => {
    const store = new VariableStore();
    const att = new MultiHeadAttention('a', D, H, dh, true, store, createRng(1));
    const x = randomInput(2, T, 5, 4);
    const { grads } = tf.variableGrads(() => tf.sum(tf.square(att.apply(x, { heads: 2 }))) as tf.Scalar, [att.wq, att.wo]);
    const gq = arr(grads[att.wq.name]!);
    const go = arr(grads[att.wo.name]!);
    const outside = (g: M, inRow: (i: number) => boolean, inCol: (j: number) => boolean) =>
      g.flatMap((row, i) => row.map((v, j) => (inRow(i) && inCol(j) ? 0 : Math.abs(v))));
    expect(Math.max(...outside(gq, (i) => i < 5, (j) => j < 2 * dh))).toBe(0);
    expect(Math.max(...outside(go, (i) => i < 2 * dh, (j) => j < 5))).toBe(0);
    expect(Math.max(...gq.flat().map(Math.abs))).toBeGreaterThan(0);
    store.dispose();
  });

  it('counts parameters as the slices hold them and rejects a bad head count by name', () => {
    expect(MultiHeadAttention.params(6, 2, 3)).toBe(3 * (6 * 6 + 6) + 6 * 6 + 6);
    const store = new VariableStore();
    const att = new MultiHeadAttention('s1.b0.attn', D, H, dh, false, store, createRng(1));
    expect(() => att.apply(randomInput(1, 2, D, 1), { heads: 5 })).toThrow(/s1\.b0\.attn: heads 5/);
    expect(() => att.apply(randomInput(1, 2, D + 1, 1), { heads: 1 })).toThrow(/width 9 exceeds/);
    store.dispose();
  });
});

describe('layer norm', () => {
  it('normalises the first d features with the first d of γ, β (plain mean / biased variance, ε = 1e-5)', () => {
    const store = new VariableStore();
    const ln = new LayerNorm('ln', 8, store);
    randomise(store, 7);
    const g = ln.gamma.arraySync() as number[], b = ln.beta.arraySync() as number[];
    const x = randomInput(2, 3, 5, 8);
    const got = ln.apply(x).arraySync();
    const want = x.arraySync().map((s) =>
      s.map((tok) => {
        const mu = tok.reduce((a, v) => a + v, 0) / tok.length;
        const vr = tok.reduce((a, v) => a + (v - mu) ** 2, 0) / tok.length;
        return tok.map((v, j) => ((v - mu) / Math.sqrt(vr + 1e-5)) * g[j]! + b[j]!);
      }),
    );
    expect(maxAbsDiff(got, want)).toBeLessThan(1e-5);
    store.dispose();
  });
});

describe('embeddings', () => {
  it('token + position: row of the token plus row of the position, first d columns', () => {
    const store = new VariableStore();
    const emb = new TokenEmbedding('emb', 7, 6, 8, store, createRng(1));
    const table = arr(emb.table), pos = arr(emb.positions);
    const ids = [[3, 0, 6, 3], [1, 1, 2, 5]];
    const got = emb.apply(tf.tensor2d(ids), 5).arraySync();
    const want = ids.map((s) => s.map((id, t) => Array.from({ length: 5 }, (_, j) => table[id]![j]! + pos[t]![j]!)));
    expect(maxAbsDiff(got, want)).toBeLessThan(1e-7);
    expect(() => emb.apply(tf.zeros([1, 7]), 5)).toThrow(/emb: 7 tokens exceed the 6 positions/);
    store.dispose();
  });

  it('patch embedding: a linear map of each patch plus its position, first d columns', () => {
    const store = new VariableStore();
    const pe = new PatchEmbedding('patch', 4, 3, 6, store, createRng(1));
    randomise(store, 3);
    const K = arr(pe.kernel), bias = pe.bias.arraySync() as number[], pos = arr(pe.positions);
    const x = randomInput(2, 4, 3, 5);
    const got = pe.apply(x, 4).arraySync();
    const want = x.arraySync().map((s) => s.map((p, t) => Array.from({ length: 4 }, (_, j) => bias[j]! + pos[t]![j]! + p.reduce((a, v, i) => a + v * K[i]![j]!, 0))));
    expect(maxAbsDiff(got, want)).toBeLessThan(1e-5);
    expect(() => pe.apply(randomInput(1, 5, 3, 1), 4)).toThrow(/patch: 5 patches exceed the 4 positions/);
    expect(() => pe.apply(randomInput(1, 4, 2, 1), 4)).toThrow(/patch: patches have 2 features, the embedding expects 3/);
    store.dispose();
  });
});
