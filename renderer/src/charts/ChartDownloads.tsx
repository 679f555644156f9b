/** PNG / SVG / CSV buttons for one chart: the picture as the page draws it, the data as a table. */
import { canvasToPng, fileSlug, saveBlob, saveText, svgMarkup, svgToPng } from './download.js';

type Props = {
  /** The file name's stem (slugged). */
  name: string;
  /** The chart's data as CSV, if it has a table form. */
  csv?: () => string;
  testId: string;
} & ({ svg: () => SVGSVGElement | null; canvas?: never } | { canvas: () => HTMLCanvasElement | null; svg?: never });

export function ChartDownloads({ name, csv, testId, svg, canvas }: Props) {
  const stem = fileSlug(name);
  const save = async (kind: 'png' | 'svg' | 'csv') => {
    if (kind === 'csv') return saveText(`${stem}.csv`, csv!());
    const s = svg?.();
    if (s) return saveBlob(`${stem}.${kind}`, kind === 'svg' ? new Blob([svgMarkup(s)], { type: 'image/svg+xml' }) : await svgToPng(s));
    const c = canvas?.();
    if (c) saveBlob(`${stem}.png`, await canvasToPng(c));
  };
  const kinds: ('png' | 'svg' | 'csv')[] = ['png', ...(svg ? (['svg'] as const) : []), ...(csv ? (['csv'] as const) : [])];
  return (
    <span className="chart-tools">
      {kinds.map((k) => (
        <button key={k} type="button" className="tool" data-testid={`${testId}-download-${k}`} title={`Download as ${k.toUpperCase()}`} onClick={() => void save(k)}>
          {k.toUpperCase()}
        </button>
      ))}
    </span>
  );
}
