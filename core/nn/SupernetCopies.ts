/**
 * Several weight-sharing supernets of one space behind the Supernet contract: each subnet is routed to one
 * copy, which trains, scores, slices and exports it. Few-shot NAS's sub-supernets (core/nn/FewShotSupernet.ts)
 * and the Balanced Mixture of SuperNets (core/train/strategies/bmos.ts) are this shape; what differs is the
 * rule that picks a subnet's copy, `copyFor`.
 *
 * Variable names: copy 0 keeps the plain supernet's names, copy k ≥ 1 prefixes them with `<prefix><k>/`,
 * so a run without copies and copy 0 of one with copies read the same checkpoint names.
 */
import type * as tf from '@tensorflow/tfjs';
import type { Arch, SearchSpace } from '../space/SearchSpace.js';
import { ElasticSupernet } from './Supernet.js';
import type { ForwardOptions, ForwardResult, Supernet } from './types.js';

export abstract class SupernetCopies implements Supernet {
  readonly copies: ElasticSupernet[];

  /** `seeds[k]`: copy k's initialisation seed. */
  constructor(
    readonly space: SearchSpace,
    seeds: readonly number[],
    private readonly prefix: string,
  ) {
    if (seeds.length < 1) throw new Error('a supernet with copies needs at least one copy');
    this.copies = seeds.map((seed) => new ElasticSupernet(space, { seed }));
  }

  /** The index of the copy that holds `arch`'s weights. */
  abstract copyFor(arch: Arch): number;

  /** The stable-name prefix of copy k. */
  copyPrefix(k: number): string {
    return k === 0 ? '' : `${this.prefix}${k}/`;
  }

  resolve(arch: Arch): ElasticSupernet {
    return this.copies[this.copyFor(arch)]!;
  }

  apply(x: tf.Tensor, arch: Arch, opts: ForwardOptions): ForwardResult {
    return this.resolve(arch).apply(x, arch, opts);
  }

  trainableVariables(): tf.Variable[] {
    return this.copies.flatMap((c) => c.trainableVariables());
  }

  namedVariables(): Map<string, tf.Variable> {
    const out = new Map<string, tf.Variable>();
    this.copies.forEach((c, k) => {
      for (const [name, v] of c.namedVariables()) out.set(this.copyPrefix(k) + name, v);
    });
    return out;
  }

  countParams(arch: Arch): number {
    return this.resolve(arch).countParams(arch);
  }

  countFlops(arch: Arch): number {
    return this.resolve(arch).countFlops(arch);
  }

  dispose(): void {
    for (const c of this.copies) c.dispose();
  }
}
