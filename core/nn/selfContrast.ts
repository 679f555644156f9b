/**
 * SCMoE, self-contrast at inference (Shi et al., 2024, "Unchosen Experts Can Contribute Too: Unleashing MoE
 * Models' Power by Self-Contrast"; reference code github.com/DavidFanzz/SCMoE, decodingmethod/moe_utils.py
 * `scmoe`): the same model runs twice — the strong activation (its own routing, top-k) and a weak one (each
 * MoE layer routes every token to the experts of the given ranks only, `weakRanks`, gates renormalised over
 * them, the reference's rank-k routing) — and the output contrasts them:
 *   logits = (1 + β)·strong − β·weak = strong + β·(strong − weak),
 * kept only where strong ≥ log α + max(strong) (the reference's adaptive plausibility cutoff), the rest set
 * to −1e9 (the reference uses −∞; a finite value keeps the softmax of a masked row defined).
 * Defaults are the reference's (generate.py): β = 0.5 (--cd_beta), α = 0.1 (--cd_alpha), weak = top-1, rank 0
 * (--student_num_experts_per_tok 1, --student_routed_tok 0); temperatures 1. Training-free: nothing is learnt.
 * Here the "next-token distribution" is the classifier's class logits.
 */
import * as tf from '@tensorflow/tfjs';
import type { Arch } from '../space/SearchSpace.js';
import type { MoELayer } from './moe/MoELayer.js';
import type { Supernet } from './types.js';

export interface SelfContrast {
  /** Contrast strength β ≥ 0 (0: the strong pass alone). */
  beta: number;
  /** Plausibility cutoff α in (0, 1]: keep classes whose strong probability is ≥ α × the best one's. */
  alpha: number;
  /** 0-based ranks of the experts the weak pass uses in every MoE layer. */
  weakRanks: readonly number[];
}

export const SCMOE_DEFAULTS: SelfContrast = { beta: 0.5, alpha: 0.1, weakRanks: [0] };

/** What self-contrast needs of a supernet: its forward pass and its MoE layers (to switch the weak routing). */
export interface SelfContrastNet {
  apply: Supernet['apply'];
  moeLayers(): MoELayer[];
}

/** The weak pass's logits: every MoE layer routed to the experts of `weakRanks`. */
export function weakLogits(net: SelfContrastNet, x: tf.Tensor, arch: Arch, weakRanks: readonly number[]): tf.Tensor2D {
  const layers = net.moeLayers();
  layers.forEach((l) => (l.weakRanks = weakRanks));
  try {
    return net.apply(x, arch, { training: false, progress: 1 }).logits;
  } finally {
    layers.forEach((l) => (l.weakRanks = null));
  }
}

/** (1 + β)·strong − β·weak where strong ≥ log α + max strong, −1e9 elsewhere. */
export function contrastLogits(strong: tf.Tensor2D, weak: tf.Tensor2D, sc: Pick<SelfContrast, 'beta' | 'alpha'>): tf.Tensor2D {
  return tf.tidy(() => {
    const diff = tf.sub(tf.mul(1 + sc.beta, strong), tf.mul(sc.beta, weak));
    const cutoff = tf.add(Math.log(sc.alpha), tf.max(strong, 1, true));
    return tf.where(tf.less(strong, cutoff), tf.fill(strong.shape, -1e9), diff) as tf.Tensor2D;
  });
}

/** SCMoE's logits for a batch: the strong pass, the weak pass, contrasted. */
export function selfContrastLogits(net: SelfContrastNet, x: tf.Tensor, arch: Arch, sc: SelfContrast = SCMOE_DEFAULTS): tf.Tensor2D {
  return tf.tidy(() => contrastLogits(net.apply(x, arch, { training: false, progress: 1 }).logits, weakLogits(net, x, arch, sc.weakRanks), sc));
}
