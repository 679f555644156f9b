/** A multi-series line chart: d3 computes scales and path strings, React renders the SVG (visx style). */
import { line, scaleLinear } from 'd3';
import { useSize } from '../components/hooks.js';
import { decimate, formatCount, paddedExtent } from './scales.js';

export interface Series {
  label: string;
  color: string;
  points: ReadonlyArray<readonly [number, number]>;
  dashed?: boolean;
  /** Drawn faint behind the others (raw values under a smoothed curve); not in the legend. */
  faint?: boolean;
}

interface Props {
  title: string;
  series: Series[];
  xLabel?: string;
  yDomain?: [number, number];
  height?: number;
  testId: string;
  /** Most points drawn per series; longer series are strided (the last point is always kept). */
  maxPoints?: number;
}

const M = { top: 8, right: 12, bottom: 26, left: 46 };

export function LineChart({ title, series, xLabel = 'step', yDomain, height = 190, testId, maxPoints = 800 }: Props) {
  const [ref, size] = useSize<HTMLDivElement>();
  const w = Math.max(50, size.width);
  const innerW = w - M.left - M.right;
  const innerH = height - M.top - M.bottom;
  const xs = series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = series.flatMap((s) => s.points.map((p) => p[1]));
  const x = scaleLinear()
    .domain(xs.length ? [Math.min(...xs), Math.max(Math.max(...xs), Math.min(...xs) + 1)] : [0, 1])
    .range([0, innerW]);
  const y = scaleLinear()
    .domain(yDomain ?? paddedExtent(ys))
    .range([innerH, 0])
    .nice();
  const path = line<readonly [number, number]>()
    .defined((p) => Number.isFinite(p[1]))
    .x((p) => x(p[0]))
    .y((p) => y(p[1]));
  const total = series.reduce((n, s) => n + s.points.length, 0);
  // d3 picks the precision the tick step needs (1.385 vs 1.39), so close ticks never read alike.
  const xCount = Math.max(2, Math.floor(innerW / 80));
  const yFmt = y.tickFormat(5, Math.abs(y.domain()[1]!) >= 1e4 ? '~s' : undefined);
  const xFmt = x.tickFormat(xCount, Math.abs(x.domain()[1]!) >= 1e4 ? '~s' : undefined);
  return (
    <figure className="chart" data-testid={testId} data-points={total}>
      <figcaption>
        <span className="chart-title">{title}</span>
        <span className="legend">
          {series.filter((s) => !s.faint).map((s) => (
            <span key={s.label} className="legend-item">
              <svg width="18" height="8" aria-hidden="true">
                <line x1="0" y1="4" x2="18" y2="4" stroke={s.color} strokeWidth="2" strokeDasharray={s.dashed ? '4 3' : undefined} />
              </svg>
              {s.label}
              {s.points.length ? <b> {fmt(s.points[s.points.length - 1]![1])}</b> : null}
            </span>
          ))}
        </span>
      </figcaption>
      <div ref={ref} className="chart-body">
        <svg width={w} height={height} role="img" aria-label={`${title} over ${xLabel}`}>
          <g transform={`translate(${M.left},${M.top})`}>
            {y.ticks(5).map((t) => (
              <g key={`y${t}`} transform={`translate(0,${y(t)})`}>
                <line className="grid" x2={innerW} />
                <text className="tick" x={-6} dy="0.32em" textAnchor="end">
                  {yFmt(t)}
                </text>
              </g>
            ))}
            {x.ticks(xCount).map((t) => (
              <g key={`x${t}`} transform={`translate(${x(t)},${innerH})`}>
                <line className="axis" y2={4} />
                <text className="tick" y={16} textAnchor="middle">
                  {xFmt(t)}
                </text>
              </g>
            ))}
            <line className="axis" y1={innerH} y2={innerH} x2={innerW} />
            {series.map((s) => (
              <path
                key={s.label}
                d={path(decimate(s.points, maxPoints)) ?? undefined}
                fill="none"
                stroke={s.color}
                strokeWidth={s.faint ? 1 : 1.75}
                strokeOpacity={s.faint ? 0.3 : 1}
                strokeDasharray={s.dashed ? '5 3' : undefined}
                data-series={s.label}
              />
            ))}
          </g>
        </svg>
      </div>
    </figure>
  );
}

export function fmt(v: number): string {
  if (!Number.isFinite(v)) return '—';
  const a = Math.abs(v);
  if (a >= 1e4) return formatCount(v);
  if (a !== 0 && a < 1e-3) return v.toExponential(1);
  return `${+v.toPrecision(3)}`;
}
