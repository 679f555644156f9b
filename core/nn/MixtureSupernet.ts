/**
 * K weight-sharing supernets of one space, each subnet routed to one of them by a rule its training
 * strategy sets (the Balanced Mixture of SuperNets, Javan et al. 2023: core/train/strategies/bmos.ts).
 * Copies start from different seeds, as the reference's K separately constructed models do
 * (mehravehj/Balanced-Mixture-of-SuperNets, NAS_trainer.create_models). Names: copy k ≥ 1 prefixes the
 * plain names with `mixture<k>/` (core/nn/SupernetCopies.ts).
 */
import type { Arch, SearchSpace } from '../space/SearchSpace.js';
import { SupernetCopies } from './SupernetCopies.js';

/** Copy k's seed: far apart streams of the run's seed. */
export const mixtureSeed = (seed: number, k: number): number => seed + 7919 * k;

export class MixtureSupernet extends SupernetCopies {
  private router: (arch: Arch) => number = () => 0;

  constructor(space: SearchSpace, seed: number, models: number) {
    if (!Number.isInteger(models) || models < 1) throw new Error(`mixture of supernets: models must be a positive integer, got ${models}`);
    super(space, Array.from({ length: models }, (_, k) => mixtureSeed(seed, k)), 'mixture');
  }

  /** The rule that picks a subnet's supernet (an index below `copies.length`). */
  setRouter(route: (arch: Arch) => number): void {
    this.router = route;
  }

  copyFor(arch: Arch): number {
    const k = this.router(arch);
    if (!(Number.isInteger(k) && k >= 0 && k < this.copies.length)) throw new Error(`mixture router chose supernet ${k}; there are ${this.copies.length}`);
    return k;
  }
}
