/**
 * The 95 % interval every reported accuracy carries: the Wilson score interval for a binomial
 * proportion (Wilson 1927; recommended over the normal "Wald" interval by Brown, Cai & DasGupta 2001,
 * "Interval Estimation for a Binomial Proportion", because it keeps its coverage near 0 and 1 and
 * never leaves [0, 1]).
 *
 * It lives beside the protocol (not in core/train) because the renderer formats accuracies the same
 * way and may import only core/protocol and core/space.
 */
import type { AccuracyEstimate, DataSplit } from './protocol.js';

/** Two-sided 95 % standard-normal quantile, Φ⁻¹(0.975). */
export const Z95 = 1.959963984540054;

/** Wilson score interval [lo, hi] for `correct` successes in `n` trials; [0, 1] when n = 0. */
export function accuracyInterval(correct: number, n: number, z = Z95): [number, number] {
  if (!(n > 0)) return [0, 1];
  const p = correct / n;
  const z2 = z * z;
  const denom = 1 + z2 / n;
  const centre = (p + z2 / (2 * n)) / denom;
  const half = (z / denom) * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n));
  return [Math.max(0, centre - half), Math.min(1, centre + half)];
}

/** An accuracy measured on `n` samples of `split`, with its interval. */
export function accuracyEstimate(split: DataSplit, accuracy: number, n: number): AccuracyEstimate {
  // Accuracies are correct / n; rounding recovers the count from the float.
  return { split, accuracy, n, ci95: accuracyInterval(Math.round(accuracy * n), n) };
}

/** "85.3 % ± 0.7 (val, n=5000)": the half-width of the (slightly asymmetric) interval, in points. */
export function formatAccuracy(e: Pick<AccuracyEstimate, 'accuracy' | 'n' | 'ci95' | 'split'>, digits = 1): string {
  const half = ((e.ci95[1] - e.ci95[0]) / 2) * 100;
  return `${(e.accuracy * 100).toFixed(digits)} % ± ${half.toFixed(digits)} (${e.split}, n=${e.n})`;
}
