/**
 * Routing fluctuation (Nguyen et al., ICML 2025, "Improving Routing in Sparse MoE with Graph of Tokens", the
 * quantity similarity-aware routing lowers): the share of tokens whose expert changes between two
 * evaluations of the same inputs. The trainer routes a fixed probe — the first FLUCTUATION_PROBE validation
 * samples, one batch, so batch-dependent routers (expert choice, similarity-aware) see the same batch every
 * time — at each validation, and reports per MoE layer the share of probe tokens whose top expert
 * (MoELayerOutput.topExpert: the slot with the highest kept gate) differs from the previous validation's.
 */
import * as tf from '@tensorflow/tfjs';
import { sequentialBatches } from '../data/BatchIterator.js';
import type { Split } from '../data/DatasetContract.js';
import type { Supernet } from '../nn/types.js';
import type { Arch } from '../space/SearchSpace.js';

/** Validation samples routed at each validation to measure fluctuation. */
export const FLUCTUATION_PROBE = 256;

/** Each MoE layer's top expert per probe token (one inference pass over the first `n` samples of `split`). */
export async function probeTopExperts(net: Supernet, arch: Arch, split: Split, inputShape: readonly number[], n = FLUCTUATION_PROBE): Promise<Map<string, Int32Array>> {
  const out = new Map<string, Int32Array>();
  for (const b of sequentialBatches(split, n, Math.min(n, split.n))) {
    let layers: string[] = [];
    const packed = tf.tidy(() => {
      const res = net.apply(tf.tensor(b.x, [b.size, ...inputShape]), arch, { training: false, progress: 1 });
      layers = res.moe.map((m) => m.layer);
      return res.moe.length ? tf.concat(res.moe.map((m) => tf.cast(m.topExpert, 'int32'))) : tf.zeros([0], 'int32');
    });
    if (layers.length === 0) {
      packed.dispose();
      return out;
    }
    // One asynchronous read (WebGPU under Node has no synchronous read-back).
    const all = (await packed.data()) as Int32Array;
    packed.dispose();
    const T = all.length / Math.max(1, layers.length);
    layers.forEach((l, i) => out.set(l, all.slice(i * T, (i + 1) * T)));
    break;
  }
  return out;
}

/** Share of tokens whose top expert differs between two probes of the same inputs. */
export function routingFluctuation(prev: ArrayLike<number>, next: ArrayLike<number>): number {
  if (prev.length !== next.length || prev.length === 0) return NaN;
  let changed = 0;
  for (let i = 0; i < prev.length; i++) if (prev[i] !== next[i]) changed++;
  return changed / prev.length;
}
