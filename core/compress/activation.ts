/** The graph's activations on plain numbers (calibration statistics of hidden units). */
import type { Activation } from '../space/SearchSpace.js';

/** erf by Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7), enough for calibration norms. */
function erf(x: number): number {
  const s = Math.sign(x);
  const a = Math.abs(x);
  const t = 1 / (1 + 0.3275911 * a);
  const y = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-a * a);
  return s * y;
}

export function scalarActivation(fn: Activation): (v: number) => number {
  switch (fn) {
    case 'relu':
      return (v) => (v > 0 ? v : 0);
    case 'gelu':
      return (v) => 0.5 * v * (1 + erf(v / Math.SQRT2));
    case 'tanh':
      return Math.tanh;
    case 'sigmoid':
      return (v) => 1 / (1 + Math.exp(-v));
    case 'linear':
      return (v) => v;
  }
}
