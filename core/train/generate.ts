/**
 * Text generation from a prompt with a causal model, as nanoGPT's `generate`: crop the context to the
 * model's last `contextLength` tokens, take the logits of the last position, then either the argmax
 * (greedy, temperature 0) or a sample from softmax(logits / temperature), optionally only among the top k.
 * The model is a function of the context ids so this file needs no supernet (the run's subnet supplies it).
 */
import { createRng } from '../space/rng.js';

export interface GenerateOptions {
  /** Tokens to add after the prompt. */
  maxNewTokens: number;
  /** 0 = greedy; otherwise the softmax temperature. */
  temperature: number;
  /** Sample only among the k most probable tokens (0 = all). */
  topK: number;
  /** Seed of the sampling stream (the same seed gives the same text). */
  seed: number;
  /** Longest context the model reads (its position table); older tokens are cropped. */
  contextLength: number;
  /** Stop after producing this token (e.g. <eod>), kept in the output. */
  stopToken?: number;
}

/** The next-token logits after `context` (ids, oldest first). */
export type NextTokenLogits = (context: readonly number[]) => Promise<Float32Array>;

/** Index of the largest value, the first on ties (tf.argMax's convention). */
export function argmax(v: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < v.length; i++) if (v[i]! > v[best]!) best = i;
  return best;
}

/** Probabilities of softmax(logits / temperature), restricted to the top k (0 = all). */
export function samplingDistribution(logits: ArrayLike<number>, temperature: number, topK: number): Float64Array {
  const n = logits.length;
  let keep: Set<number> | null = null;
  if (topK > 0 && topK < n) {
    const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => logits[b]! - logits[a]! || a - b);
    keep = new Set(order.slice(0, topK));
  }
  let m = -Infinity;
  for (let i = 0; i < n; i++) if (!keep || keep.has(i)) m = Math.max(m, logits[i]! / temperature);
  const p = new Float64Array(n);
  let z = 0;
  for (let i = 0; i < n; i++) {
    if (keep && !keep.has(i)) continue;
    p[i] = Math.exp(logits[i]! / temperature - m);
    z += p[i]!;
  }
  for (let i = 0; i < n; i++) p[i]! /= z;
  return p;
}

export async function generate(prompt: readonly number[], next: NextTokenLogits, opts: GenerateOptions): Promise<number[]> {
  if (prompt.length === 0) throw new Error('prompt: give at least one token');
  if (!(opts.temperature >= 0)) throw new Error(`temperature: ${opts.temperature} is not ≥ 0`);
  const rng = createRng(opts.seed);
  const ids = [...prompt];
  const out: number[] = [];
  for (let i = 0; i < opts.maxNewTokens; i++) {
    const logits = await next(ids.slice(-opts.contextLength));
    let token: number;
    if (opts.temperature === 0) token = argmax(logits);
    else {
      const p = samplingDistribution(logits, opts.temperature, opts.topK);
      const u = rng.next();
      let acc = 0;
      token = p.length - 1;
      for (let j = 0; j < p.length; j++) {
        acc += p[j]!;
        if (u < acc) {
          token = j;
          break;
        }
      }
    }
    ids.push(token);
    out.push(token);
    if (token === opts.stopToken) break;
  }
  return out;
}
