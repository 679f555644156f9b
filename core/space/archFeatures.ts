/**
 * An architecture as a feature vector in [0, 1] — what Mixture-of-Supernets' router reads (Jawahar et al.,
 * 2024, "Mixture-of-Supernets", ACL Findings; reference UBC-NLP/MoS custom_bert.py: the sampled sizes of the
 * subnet, min-max normalised over the space, `active_arch_embed`). One feature per codec position that has
 * more than one choice (core/space/archCodec.ts order): a numeric choice as (v − min) / (max − min) over its
 * list, an op choice as its index / (n − 1); positions that decide nothing (blocks beyond the chosen depth,
 * an identity block's width) read 0, as the canonical encoding writes them.
 */
import { archDims, archPositions, canonicalVector, encodeArch } from './archCodec.js';
import type { Arch, SearchSpace } from './SearchSpace.js';

/** The positions that become features (more than one choice), with their labels, e.g. "stem.b0.width". */
export function archFeatureLabels(space: SearchSpace): string[] {
  const dims = archDims(space);
  return archPositions(space)
    .filter((_, i) => dims[i]! > 1)
    .map((p) => p.label);
}

/** The features of `arch` in `archFeatureLabels` order. */
export function archFeatures(space: SearchSpace, arch: Arch): number[] {
  const positions = archPositions(space);
  const vec = canonicalVector(space, encodeArch(space, arch));
  const out: number[] = [];
  positions.forEach((p, i) => {
    const n = p.choices.length;
    if (n <= 1) return;
    const values = p.choices.map(Number);
    const v = vec[i]!;
    if (values.every(Number.isFinite)) {
      const lo = Math.min(...values);
      const hi = Math.max(...values);
      out.push(hi > lo ? (values[v]! - lo) / (hi - lo) : 0);
    } else out.push(v / (n - 1));
  });
  return out;
}
