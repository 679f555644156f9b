/**
 * Rank agreement between two scorings of the same items: Kendall's τ-b and Spearman's ρ, both with
 * ties handled as scipy.stats does (kendalltau's default variant 'b'; spearmanr = Pearson correlation
 * of average ranks). Weight-sharing NAS reports these between inherited-weight and standalone accuracy
 * (few-shot NAS, Zhao et al. 2021; PA&DA, Lu et al. 2023); the search uses τ to check latency models.
 *
 * O(n²) pairs: meant for tens to a few thousand items.
 */
import { pearson } from '../space/pearson.js';

function checkPair(x: readonly number[], y: readonly number[]): void {
  if (x.length !== y.length) throw new Error(`rank correlation needs equal lengths, got ${x.length} and ${y.length}`);
}

/**
 * Kendall's τ-b = (C − D) / √((P − Tx)(P − Ty)), P = n(n−1)/2 pairs, Tx / Ty pairs tied in x / in y
 * (Kendall 1945). Pairs tied in both count in neither C nor D. NaN when either side is constant or
 * fewer than two items are given.
 */
export function kendallTauB(x: readonly number[], y: readonly number[]): number {
  checkPair(x, y);
  const n = x.length;
  let concordant = 0;
  let discordant = 0;
  let tiedX = 0;
  let tiedY = 0;
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      const dx = Math.sign(x[i]! - x[j]!);
      const dy = Math.sign(y[i]! - y[j]!);
      if (dx === 0) tiedX++;
      if (dy === 0) tiedY++;
      if (dx !== 0 && dy !== 0) {
        if (dx === dy) concordant++;
        else discordant++;
      }
    }
  }
  const pairs = (n * (n - 1)) / 2;
  const denom = Math.sqrt((pairs - tiedX) * (pairs - tiedY));
  return denom > 0 ? (concordant - discordant) / denom : NaN;
}

/** 1-based ranks, ties given the mean of the ranks they span (scipy.stats.rankdata 'average'). */
export function averageRanks(x: readonly number[]): number[] {
  const order = x.map((_, i) => i).sort((a, b) => x[a]! - x[b]!);
  const ranks = new Array<number>(x.length);
  for (let i = 0; i < order.length; ) {
    let j = i;
    while (j + 1 < order.length && x[order[j + 1]!] === x[order[i]!]) j++;
    const r = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) ranks[order[k]!] = r;
    i = j + 1;
  }
  return ranks;
}

/** Spearman's ρ: Pearson correlation of average ranks. NaN when either side is constant. */
export function spearmanRho(x: readonly number[], y: readonly number[]): number {
  checkPair(x, y);
  if (x.length < 2) return NaN;
  return pearson(averageRanks(x), averageRanks(y));
}
