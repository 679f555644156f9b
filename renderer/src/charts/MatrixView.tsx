/** A small labelled matrix (class × expert, expert × expert) as SVG cells with values on hover. */
import { useRef } from 'react';
import { ChartDownloads } from './ChartDownloads.js';
import { ColorScale } from './ColorScale.js';
import { matrixCsv } from './download.js';
import { rampCss } from './heatmapColor.js';

interface Props {
  /** Shown above the matrix, with its colour scale. */
  title?: string;
  /** What a cell's colour measures (the colour bar's label). */
  scaleLabel?: string;
  values: readonly (readonly number[])[];
  rowLabels: readonly string[];
  colLabels: readonly string[];
  testId: string;
  label: string;
  cell?: number;
}

export function MatrixView({ title, scaleLabel = 'share', values, rowLabels, colLabels, testId, label, cell = 22 }: Props) {
  // Room for the longest labels (column labels are rotated 50°): nothing is clipped.
  const left = 8 + Math.max(0, ...rowLabels.map((l) => l.length)) * 6.5;
  const top = 10 + Math.max(0, ...colLabels.map((l) => l.length)) * 6 * Math.sin((50 * Math.PI) / 180);
  const max = Math.max(1e-9, ...values.flat());
  // the last rotated column label runs right of the grid
  const w = left + colLabels.length * cell + 4 + Math.max(0, ...colLabels.map((l) => l.length)) * 6 * Math.cos((50 * Math.PI) / 180);
  const h = top + rowLabels.length * cell + 4;
  const min = Math.min(0, ...values.flat());
  const svgRef = useRef<SVGSVGElement>(null);
  return (
    <figure className="matrix-figure">
      <figcaption>
        <span className="chart-title">{title}</span>
        <ChartDownloads name={title ?? label} svg={() => svgRef.current} csv={() => matrixCsv('', rowLabels, colLabels, values)} testId={testId} />
      </figcaption>
    <svg ref={svgRef} className="matrix" width={w} height={h} role="img" aria-label={label} data-testid={testId} data-rows={rowLabels.length} data-cols={colLabels.length}>
      {colLabels.map((c, j) => (
        <text key={`c${j}`} className="tick" transform={`translate(${left + j * cell + cell / 2},${top - 4}) rotate(-50)`}>
          {c}
        </text>
      ))}
      {rowLabels.map((r, i) => (
        <text key={`r${i}`} className="tick" x={left - 4} y={top + i * cell + cell / 2} dy="0.32em" textAnchor="end">
          {r}
        </text>
      ))}
      {values.map((row, i) =>
        row.map((v, j) => (
          <rect key={`${i}-${j}`} x={left + j * cell} y={top + i * cell} width={cell - 1} height={cell - 1} fill={rampCss(v / max)}>
            <title>{`${rowLabels[i]} → ${colLabels[j]}: ${v.toFixed(3)}`}</title>
          </rect>
        )),
      )}
    </svg>
      <ColorScale min={min} max={max} label={scaleLabel} testId={`${testId}-scale`} />
    </figure>
  );
}
