/**
 * A multi-series line chart: d3 computes scales and path strings, React renders the SVG (visx style).
 * d3 touches the DOM only for its zoom behaviour (wheel zooms x, drag pans, double-click resets).
 * The svg takes its container's width (ResizeObserver), so the chart shrinks with the window.
 */
import { line, scaleLinear, select, zoom, zoomIdentity, type ZoomBehavior, type ZoomTransform } from 'd3';
import { useEffect, useRef, useState } from 'react';
import { useSize } from '../components/hooks.js';
import { nearestPoint, visiblePoints, xDomain, yScale } from './chartMath.js';
import { ChartDownloads } from './ChartDownloads.js';
import { seriesCsv } from './download.js';
import { decimate, formatCount } from './scales.js';

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
  /** Offer the log-y toggle (off for bounded values such as accuracy). */
  allowLog?: boolean;
  /** x values are seconds: ticks read 1m 30s. */
  xIsTime?: boolean;
}

const M = { top: 8, right: 12, bottom: 26, left: 50 };

export function LineChart({ title, series, xLabel = 'step', yDomain, height = 190, testId, maxPoints = 800, allowLog = true, xIsTime = false }: Props) {
  const [ref, size] = useSize<HTMLDivElement>();
  const svgRef = useRef<SVGSVGElement>(null);
  const overlayRef = useRef<SVGRectElement>(null);
  const zoomRef = useRef<ZoomBehavior<SVGRectElement, unknown> | null>(null);
  const [transform, setTransform] = useState<ZoomTransform>(zoomIdentity);
  const [hoverPx, setHoverPx] = useState<number | null>(null);
  const [logY, setLogY] = useState(false);
  const w = Math.max(120, size.width);
  const innerW = w - M.left - M.right;
  const innerH = height - M.top - M.bottom;

  useEffect(() => {
    const el = overlayRef.current;
    if (!el) return;
    const z = (zoomRef.current ??= zoom<SVGRectElement, unknown>()
      .scaleExtent([1, 500])
      // wheel zooms, drag pans; double-click is ours (reset) rather than d3's zoom-in
      .filter((e: Event) => e.type !== 'dblclick' && !(e as MouseEvent).button)
      .on('zoom', (e: { transform: ZoomTransform }) => setTransform(e.transform)));
    z.extent([
      [0, 0],
      [innerW, innerH],
    ]).translateExtent([
      [0, 0],
      [innerW, innerH],
    ]);
    select(el).call(z);
    return () => {
      select(el).on('.zoom', null);
    };
  }, [innerW, innerH]);

  const resetZoom = () => {
    if (overlayRef.current && zoomRef.current) select(overlayRef.current).call(zoomRef.current.transform, zoomIdentity);
    setTransform(zoomIdentity);
  };

  const xs = series.flatMap((s) => s.points.map((p) => p[0]));
  const full = scaleLinear().domain(xDomain(xs)).range([0, innerW]);
  const x = transform.k === 1 && transform.x === 0 ? full : transform.rescaleX(full);
  const [x0, x1] = x.domain() as [number, number];
  const shown = series.map((s) => ({ ...s, points: visiblePoints(s.points, x0, x1) }));
  const ys = shown.flatMap((s) => s.points.map((p) => p[1]));
  const { scale: y, log: isLog } = yScale(ys, [innerH, 0], { log: logY, domain: yDomain });
  const path = line<readonly [number, number]>()
    .defined((p) => Number.isFinite(p[1]) && (!isLog || p[1] > 0))
    .x((p) => x(p[0]))
    .y((p) => y(p[1]));
  const total = series.reduce((n, s) => n + s.points.length, 0);
  // d3 picks the precision the tick step needs (1.385 vs 1.39), so close ticks never read alike.
  const xCount = Math.max(2, Math.floor(innerW / 80));
  const yTicks = isLog ? y.ticks(4).filter((_, i, a) => a.length <= 6 || i % Math.ceil(a.length / 6) === 0) : y.ticks(5);
  const yFmt = isLog ? y.tickFormat(6, '~g') : y.tickFormat(5, Math.abs(y.domain()[1]!) >= 1e4 ? '~s' : undefined);
  const xFmt = xIsTime ? (t: number) => formatClock(t) : x.tickFormat(xCount, Math.abs(x.domain()[1]!) >= 1e4 ? '~s' : undefined);
  const legend = series.filter((s) => !s.faint);
  const hoverX = hoverPx === null ? null : x.invert(hoverPx);
  const hits = hoverX === null ? [] : legend.map((s) => ({ s, p: nearestPoint(s.points, hoverX) })).filter((h) => h.p !== null);
  const hitX = hits.length ? hits.reduce((best, h) => (Math.abs(h.p![0] - hoverX!) < Math.abs(best - hoverX!) ? h.p![0] : best), hits[0]!.p![0]) : null;
  const zoomed = transform.k !== 1;
  return (
    <figure className="chart" data-testid={testId} data-points={total} data-zoomed={zoomed} data-log-y={isLog}>
      <figcaption>
        <span className="chart-title">{title}</span>
        <span className="legend">
          {legend.map((s) => (
            <span key={s.label} className="legend-item">
              <svg width="18" height="8" aria-hidden="true">
                <line x1="0" y1="4" x2="18" y2="4" stroke={s.color} strokeWidth="2" strokeDasharray={s.dashed ? '4 3' : undefined} />
              </svg>
              {s.label}
              {s.points.length ? <b> {fmt(s.points[s.points.length - 1]![1])}</b> : null}
            </span>
          ))}
        </span>
        <span className="chart-tools">
          {zoomed ? (
            <button type="button" className="tool" data-testid={`${testId}-reset-zoom`} onClick={resetZoom} title="Show the whole range (or double-click the chart)">
              reset zoom
            </button>
          ) : null}
          {allowLog ? (
            <button
              type="button"
              className="tool"
              aria-pressed={logY}
              data-testid={`${testId}-log-y`}
              title={logY && !isLog ? 'log scale needs positive values' : 'Logarithmic y axis'}
              onClick={() => setLogY(!logY)}
            >
              log y
            </button>
          ) : null}
        </span>
        <ChartDownloads name={title} svg={() => svgRef.current} csv={() => seriesCsv(xLabel, legend)} testId={testId} />
      </figcaption>
      <div ref={ref} className="chart-body">
        <svg ref={svgRef} width={w} height={height} role="img" aria-label={`${title} over ${xLabel}`}>
          <defs>
            <clipPath id={`clip-${testId}`}>
              <rect width={innerW} height={innerH} />
            </clipPath>
          </defs>
          <g transform={`translate(${M.left},${M.top})`}>
            {yTicks.map((t, i) => (
              <g key={`y${i}`} transform={`translate(0,${y(t)})`}>
                <line className="grid" x2={innerW} />
                <text className="tick" x={-6} dy="0.32em" textAnchor="end">
                  {yFmt(t)}
                </text>
              </g>
            ))}
            {x.ticks(xCount).map((t, i) => (
              <g key={`x${i}`} transform={`translate(${x(t)},${innerH})`}>
                <line className="axis" y2={4} />
                <text className="tick" y={16} textAnchor="middle">
                  {xFmt(t)}
                </text>
              </g>
            ))}
            <line className="axis" y1={innerH} y2={innerH} x2={innerW} />
            <g clipPath={`url(#clip-${testId})`}>
              {shown.map((s) => (
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
            {hitX !== null ? (
              <g className="crosshair" pointerEvents="none">
                <line x1={x(hitX)} x2={x(hitX)} y2={innerH} />
                {hits.map(({ s, p }) =>
                  Number.isFinite(p![1]) && (!isLog || p![1] > 0) ? <circle key={s.label} cx={x(p![0])} cy={y(p![1])} r={3} fill={s.color} /> : null,
                )}
              </g>
            ) : null}
            <rect
              ref={overlayRef}
              className="chart-overlay"
              width={innerW}
              height={innerH}
              fill="transparent"
              data-testid={`${testId}-overlay`}
              onMouseMove={(e) => setHoverPx(e.clientX - e.currentTarget.getBoundingClientRect().left)}
              onMouseLeave={() => setHoverPx(null)}
              onDoubleClick={resetZoom}
            />
          </g>
        </svg>
        {hitX !== null ? (
          <div
            className="chart-tooltip"
            data-testid={`${testId}-tooltip`}
            style={{ left: Math.min(w - 150, M.left + x(hitX) + 10), top: M.top }}
          >
            <div className="muted">
              {xLabel} {xIsTime ? formatClock(hitX) : fmt(hitX)}
            </div>
            {hits.map(({ s, p }) => (
              <div key={s.label}>
                <span className="swatch" style={{ background: s.color }} /> {s.label} <b>{fmt(p![1])}</b>
              </div>
            ))}
          </div>
        ) : null}
      </div>
    </figure>
  );
}

/** Seconds as a clock reading for a wall-time axis: 45s, 2m05, 1h03m. */
export function formatClock(sec: number): string {
  if (!Number.isFinite(sec)) return '—';
  const s = Math.max(0, Math.round(sec));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

export function fmt(v: number): string {
  if (!Number.isFinite(v)) return '—';
  const a = Math.abs(v);
  if (a >= 1e4) return formatCount(v);
  if (a !== 0 && a < 1e-3) return v.toExponential(1);
  return `${+v.toPrecision(3)}`;
}
