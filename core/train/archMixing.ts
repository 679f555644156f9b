/**
 * Mixture-of-Supernets' view data (issue 13: "architecture feature × mixing weight"): for probe
 * architectures (the smallest, the largest and seeded samples), each architecture-routed block's mixing
 * weights α(a) (core/nn/blocks/archMixture.ts) beside the architecture features a, and per block the Pearson
 * correlation of every feature with every set's weight across the probes — which architectural choice
 * steers the router towards which weight set.
 */
import type { BlockInstance } from '../nn/blocks/block.js';
import { readVariablesForSlicing } from '../nn/moe/MoELayer.js';
import type { Supernet } from '../nn/types.js';
import type { ArchMixing } from '../protocol/protocol.js';
import { largestArch, sampleArch, smallestArch } from '../space/archCodec.js';
import { archFeatureLabels, archFeatures } from '../space/archFeatures.js';
import { pearson } from '../space/pearson.js';
import { createRng } from '../space/rng.js';

/** A block that mixes its weights by the architecture (the dense block with `archMixture`). */
interface MixingBlock {
  name: string;
  mixingWeights(a: readonly number[]): number[] | null;
  /** Non-null where the block has the option. */
  mixture: unknown;
}

/** Pearson correlation of two equally long series; 0 where either is constant (a fixed feature correlates with nothing). */
export function pearsonOrZero(x: readonly number[], y: readonly number[]): number {
  const r = pearson(x, y);
  return Number.isNaN(r) ? 0 : r;
}

/**
 * The report, or undefined when the supernet has no architecture-routed block. Async: the routers' weights
 * are read to the host first (WebGPU under Node has no synchronous read-back).
 */
export async function archMixingReport(net: Supernet, probes = 30, seed = 7): Promise<ArchMixing | undefined> {
  const blocks = ((net as { blocks?: BlockInstance[][] }).blocks ?? []).flat() as unknown as Partial<MixingBlock>[];
  const space = net.space;
  const mixing = blocks.filter((b): b is MixingBlock => typeof b.mixingWeights === 'function' && !!b.mixture);
  if (mixing.length === 0) return undefined;
  await readVariablesForSlicing([...net.namedVariables()].filter(([name]) => name.includes('.dense.mos.')).map(([, v]) => v));
  const rng = createRng(seed);
  const archs = [smallestArch(space), largestArch(space), ...Array.from({ length: probes }, () => sampleArch(space, rng))];
  const features = archs.map((a) => archFeatures(space, a));
  const labels = archFeatureLabels(space);
  return {
    features: labels,
    blocks: mixing.map((b) => {
      const alpha = features.map((f) => b.mixingWeights(f)!);
      const sets = alpha[0]!.length;
      return {
        block: b.name,
        archs: features.map((f, i) => ({ features: f, alpha: alpha[i]! })),
        correlation: labels.map((_, i) => Array.from({ length: sets }, (_, k) => pearsonOrZero(features.map((f) => f[i]!), alpha.map((a) => a[k]!)))),
      };
    }),
  };
}
