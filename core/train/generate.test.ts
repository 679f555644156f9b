import { describe, expect, it } from 'vitest';
import { generate, samplingDistribution } from './generate.js';

/** A toy "model": the next token is (last + 1) mod 5 with logit 3, others 0 — and it records the contexts it saw. */
function counter(seen: number[][]) {
  return async (ctx: readonly number[]) => {
    seen.push([...ctx]);
    const l = new Float32Array(5);
    l[(ctx[ctx.length - 1]! + 1) % 5] = 3;
    return l;
  };
}

const base = { maxNewTokens: 6, temperature: 0, topK: 0, seed: 1, contextLength: 3 };

describe('generation from a prompt', () => {
  it('greedy follows the argmax and crops the context to the model length', async () => {
    const seen: number[][] = [];
    expect(await generate([0, 1], counter(seen), base)).toEqual([2, 3, 4, 0, 1, 2]);
    expect(seen[0]).toEqual([0, 1]);
    expect(seen[3]).toEqual([2, 3, 4]);
    expect(seen.every((c) => c.length <= 3)).toBe(true);
  });

  it('stops at the stop token', async () => {
    expect(await generate([0], counter([]), { ...base, stopToken: 3 })).toEqual([1, 2, 3]);
  });

  it('temperature sampling draws from softmax(l / T): empirical frequencies match', async () => {
    const logits = new Float32Array([1, 0, 2, -1]);
    const T = 0.7;
    const want = samplingDistribution(logits, T, 0);
    const z = [...logits].reduce((a, v) => a + Math.exp(v / T), 0);
    [...logits].forEach((v, i) => expect(want[i]).toBeCloseTo(Math.exp(v / T) / z, 12));
    const n = 4000;
    const draws = await generate([0], async () => logits, { ...base, temperature: T, maxNewTokens: n, seed: 9 });
    const freq = [0, 1, 2, 3].map((k) => draws.filter((t) => t === k).length / n);
    // Within 4 binomial standard errors of each probability.
    freq.forEach((f, k) => expect(Math.abs(f - want[k]!)).toBeLessThan(4 * Math.sqrt((want[k]! * (1 - want[k]!)) / n)));
    // The same seed gives the same text; another seed another one.
    expect(await generate([0], async () => logits, { ...base, temperature: T, maxNewTokens: 50, seed: 9 })).toEqual(draws.slice(0, 50));
    expect(await generate([0], async () => logits, { ...base, temperature: T, maxNewTokens: 50, seed: 10 })).not.toEqual(draws.slice(0, 50));
  });

  it('top-k keeps only the k most probable tokens', async () => {
    const p = samplingDistribution([1, 0, 2, -1], 1, 2);
    expect(p[1]).toBe(0);
    expect(p[3]).toBe(0);
    expect(p[0]! + p[2]!).toBeCloseTo(1, 12);
    const draws = await generate([0], async () => new Float32Array([1, 0, 2, -1]), { ...base, temperature: 1, topK: 2, maxNewTokens: 300 });
    expect(new Set(draws)).toEqual(new Set([0, 2]));
  });

  it('rejects an empty prompt and a negative temperature by name', async () => {
    await expect(generate([], counter([]), base)).rejects.toThrow(/prompt/);
    await expect(generate([1], counter([]), { ...base, temperature: -1 })).rejects.toThrow(/temperature/);
  });
});
