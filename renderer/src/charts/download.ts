/**
 * Downloads from the browser: chart data as CSV, a chart as a standalone SVG or PNG, any blob as a
 * file. The CSV builders are pure (tested); the rest needs a DOM.
 */

/** One CSV field: quoted when it holds a comma, quote or line break (RFC 4180). */
export function csvField(v: unknown): string {
  if (v === null || v === undefined) return '';
  const s = typeof v === 'number' ? (Number.isFinite(v) ? String(v) : '') : String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function toCsv(header: readonly string[], rows: ReadonlyArray<readonly unknown[]>): string {
  return [header, ...rows].map((r) => r.map(csvField).join(',')).join('\n') + '\n';
}

export interface CsvSeries {
  label: string;
  points: ReadonlyArray<readonly [number, number]>;
}

/**
 * Series that share an x axis as one table: a row per distinct x (ascending), a column per series,
 * empty where a series has no point at that x (validation is only evaluated every N steps).
 */
export function seriesCsv(xLabel: string, series: readonly CsvSeries[]): string {
  const xs = new Set<number>();
  const byX = series.map((s) => {
    const m = new Map<number, number>();
    for (const [x, y] of s.points) {
      xs.add(x);
      m.set(x, y);
    }
    return m;
  });
  const rows = [...xs].sort((a, b) => a - b).map((x) => [x, ...byX.map((m) => m.get(x))]);
  return toCsv([xLabel, ...series.map((s) => s.label)], rows);
}

/** A labelled matrix as a table: one row per row label, one column per column label. */
export function matrixCsv(corner: string, rowLabels: readonly string[], colLabels: readonly string[], values: ReadonlyArray<readonly number[]>): string {
  return toCsv([corner, ...colLabels], values.map((row, i) => [rowLabels[i] ?? String(i), ...row]));
}

/** A file name from a title: `Router entropy (nats)` → `router-entropy-nats`. */
export function fileSlug(title: string): string {
  return title.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '') || 'chart';
}

export function saveBlob(name: string, blob: Blob): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.style.display = 'none';
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export function saveText(name: string, text: string, type = 'text/csv;charset=utf-8'): void {
  saveBlob(name, new Blob([text], { type }));
}

const STYLE_PROPS = ['fill', 'fill-opacity', 'stroke', 'stroke-width', 'stroke-opacity', 'stroke-dasharray', 'opacity', 'font-size', 'font-family', 'font-weight', 'text-anchor', 'dominant-baseline'];

/**
 * The SVG as a standalone document: the theme's CSS variables and classes do not travel with a file,
 * so every element gets its computed paint and font inlined, and the background is painted in.
 */
export function svgMarkup(svg: SVGSVGElement): string {
  const clone = svg.cloneNode(true) as SVGSVGElement;
  const src = [svg, ...svg.querySelectorAll('*')];
  const dst = [clone, ...clone.querySelectorAll('*')];
  src.forEach((el, i) => {
    const cs = getComputedStyle(el);
    const style = STYLE_PROPS.map((p) => `${p}:${cs.getPropertyValue(p)}`).join(';');
    const d = dst[i] as Element;
    d.setAttribute('style', style);
    // presentation attributes naming theme variables mean nothing outside the page: the style holds their values
    for (const a of [...d.attributes]) if (a.value.includes('var(')) d.removeAttribute(a.name);
  });
  clone.setAttribute('xmlns', 'http://www.w3.org/2000/svg');
  const w = svg.width.baseVal.value;
  const h = svg.height.baseVal.value;
  clone.setAttribute('viewBox', `0 0 ${w} ${h}`);
  const bg = document.createElementNS('http://www.w3.org/2000/svg', 'rect');
  bg.setAttribute('width', String(w));
  bg.setAttribute('height', String(h));
  bg.setAttribute('fill', getComputedStyle(document.body).backgroundColor);
  clone.insertBefore(bg, clone.firstChild);
  return new XMLSerializer().serializeToString(clone);
}

/** Rasterise the standalone SVG at device pixel ratio (at least 2×, for slides). */
export async function svgToPng(svg: SVGSVGElement): Promise<Blob> {
  const markup = svgMarkup(svg);
  const w = svg.width.baseVal.value;
  const h = svg.height.baseVal.value;
  const scale = Math.max(2, window.devicePixelRatio || 1);
  const img = new Image();
  const url = URL.createObjectURL(new Blob([markup], { type: 'image/svg+xml' }));
  try {
    await new Promise<void>((ok, fail) => {
      img.onload = () => ok();
      img.onerror = () => fail(new Error('the chart could not be rasterised'));
      img.src = url;
    });
    const canvas = document.createElement('canvas');
    canvas.width = Math.round(w * scale);
    canvas.height = Math.round(h * scale);
    const ctx = canvas.getContext('2d')!;
    ctx.scale(scale, scale);
    ctx.drawImage(img, 0, 0, w, h);
    return await new Promise<Blob>((ok, fail) => canvas.toBlob((b) => (b ? ok(b) : fail(new Error('PNG encoding failed'))), 'image/png'));
  } finally {
    URL.revokeObjectURL(url);
  }
}

/** A canvas (heatmap) as PNG. */
export function canvasToPng(canvas: HTMLCanvasElement): Promise<Blob> {
  return new Promise<Blob>((ok, fail) => canvas.toBlob((b) => (b ? ok(b) : fail(new Error('PNG encoding failed'))), 'image/png'));
}
