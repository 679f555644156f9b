/**
 * Colour mapping for the canvas heatmaps (router load, sampled subnets, specialization matrices).
 * Viridis-like ramp: perceptually ordered and readable in both themes and for common colour-blindness.
 */
const STOPS: ReadonlyArray<readonly [number, number, number]> = [
  [68, 1, 84],
  [59, 82, 139],
  [33, 145, 140],
  [94, 201, 98],
  [253, 231, 37],
];

/** RGB for t in [0, 1] (clamped; NaN maps to 0). */
export function rampColor(t: number): [number, number, number] {
  const x = Number.isFinite(t) ? Math.min(1, Math.max(0, t)) : 0;
  const f = x * (STOPS.length - 1);
  const i = Math.min(STOPS.length - 2, Math.floor(f));
  const u = f - i;
  const a = STOPS[i]!;
  const b = STOPS[i + 1]!;
  return [Math.round(a[0] + (b[0] - a[0]) * u), Math.round(a[1] + (b[1] - a[1]) * u), Math.round(a[2] + (b[2] - a[2]) * u)];
}

export function rampCss(t: number): string {
  const [r, g, b] = rampColor(t);
  return `rgb(${r},${g},${b})`;
}

/**
 * Fill an RGBA buffer (width = columns.length, height = rows) from column-major values: column x is one
 * point in time, row y one slot, drawn top-down. Values are divided by `max` (default: the largest).
 */
export function fillHeatmap(
  out: Uint8ClampedArray,
  columns: readonly (readonly number[])[],
  rows: number,
  max?: number,
): void {
  const width = columns.length;
  let m = max ?? 0;
  if (max === undefined) for (const c of columns) for (const v of c) if (v > m) m = v;
  if (!(m > 0)) m = 1;
  for (let x = 0; x < width; x++) {
    const col = columns[x]!;
    for (let y = 0; y < rows; y++) {
      const [r, g, b] = rampColor((col[y] ?? 0) / m);
      const o = (y * width + x) * 4;
      out[o] = r;
      out[o + 1] = g;
      out[o + 2] = b;
      out[o + 3] = 255;
    }
  }
}

/** A categorical palette for experts / classes (Tableau 10). */
export const CATEGORY_COLORS = [
  '#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac',
] as const;

/**
 * Colour of category i: Tableau 10 first, then hues a golden angle apart at alternating lightness, so
 * a layer with 16 or 64 expert slots never paints two experts alike (the old palette repeated at 10).
 */
export function categoryColor(i: number): string {
  const n = Math.abs(Math.trunc(i));
  if (n < CATEGORY_COLORS.length) return CATEGORY_COLORS[n]!;
  const k = n - CATEGORY_COLORS.length;
  return hslToHex((k * 137.508 + 15) % 360, k % 3 === 2 ? 0.45 : 0.7, k % 2 ? 0.42 : 0.63);
}

function hslToHex(h: number, s: number, l: number): string {
  const a = s * Math.min(l, 1 - l);
  const f = (n: number) => {
    const k = (n + h / 30) % 12;
    const c = l - a * Math.max(-1, Math.min(k - 3, 9 - k, 1));
    return Math.round(c * 255).toString(16).padStart(2, '0');
  };
  return `#${f(0)}${f(8)}${f(4)}`;
}

export function hexToRgb(hex: string): [number, number, number] {
  const n = parseInt(hex.slice(1), 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}
