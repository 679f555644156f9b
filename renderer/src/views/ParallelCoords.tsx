/** Parallel coordinates over every evaluated subnet, with per-axis log scale and flip. */
import { useRef, useState } from 'react';
import { ChartDownloads } from '../charts/ChartDownloads.js';
import { subnetsCsv } from '../search/subnetsCsv.js';
import { useShallow } from 'zustand/react/shallow';
import type { EvaluatedSubnet } from '../../../core/protocol/protocol.js';
import { axisScale, decimate } from '../charts/scales.js';
import { useSize } from '../components/hooks.js';
import { useWorkbench } from '../store/store.js';

/** Stable empty list: a fresh [] in a selector would re-render forever. */
const NO_IDS: number[] = [];

interface Axis {
  key: string;
  label: string;
  value: (s: EvaluatedSubnet) => number;
  /** Counts read better with SI prefixes (14k); fractions and ms do not (0.9, not 900m). */
  si?: boolean;
}

const AXES: Axis[] = [
  { key: 'accuracy', label: 'accuracy', value: (s) => s.accuracy },
  { key: 'latency', label: 'latency ms', value: (s) => s.latencyMs },
  { key: 'params', label: 'params', value: (s) => s.params, si: true },
  { key: 'flops', label: 'FLOPs', value: (s) => s.flops, si: true },
  { key: 'generation', label: 'generation', value: (s) => s.generation },
];

export function ParallelCoords() {
  const { evaluated, front, selected, hovered, select, hover } = useWorkbench(
    useShallow((s) => ({
      evaluated: s.evaluated,
      front: s.searchSummary?.front ?? NO_IDS,
      selected: s.selectedSubnet,
      hovered: s.hoveredSubnet,
      select: s.selectSubnet,
      hover: s.hoverSubnet,
    })),
  );
  const [opts, setOpts] = useState<Record<string, { log: boolean; flip: boolean }>>({
    params: { log: true, flip: false },
    flops: { log: true, flip: false },
  });
  const [ref, size] = useSize<HTMLDivElement>();
  const svgRef = useRef<SVGSVGElement>(null);
  if (!evaluated.length) return null;
  const h = 240;
  const top = 14;
  const bottom = 24;
  const w = Math.max(300, size.width);
  const xStep = (w - 80) / (AXES.length - 1);
  const scales = AXES.map((a) => axisScale(evaluated.map(a.value), [h - bottom, top], opts[a.key] ?? {}));
  const onFront = new Set(front);
  const pathOf = (s: EvaluatedSubnet) => AXES.map((a, i) => `${i ? 'L' : 'M'}${40 + i * xStep},${scales[i]!(a.value(s))}`).join('');
  const order = [...evaluated].sort((a, b) => Number(onFront.has(a.id)) - Number(onFront.has(b.id)));
  const toggle = (key: string, which: 'log' | 'flip') =>
    setOpts((o) => ({ ...o, [key]: { log: o[key]?.log ?? false, flip: o[key]?.flip ?? false, [which]: !(o[key]?.[which] ?? false) } }));
  return (
    <section className="panel parallel" aria-label="All evaluated subnets, parallel coordinates" data-testid="parallel-coords">
      <div className="row">
        <h3>All evaluated subnets</h3>
        <span className="toolbar-fill" />
        <ChartDownloads name="parallel coordinates" svg={() => svgRef.current} csv={() => subnetsCsv(evaluated, front)} testId="parallel-coords" />
      </div>
      <div ref={ref} className="chart-body">
        <svg ref={svgRef} width={w} height={h} data-lines={evaluated.length}>
          {order.map((s) => (
            <path
              key={s.id}
              d={pathOf(s)}
              className={`pc-line${onFront.has(s.id) ? ' front' : ''}${s.id === selected ? ' selected' : ''}${s.id === hovered ? ' hovered' : ''}`}
              onMouseEnter={() => hover(s.id)}
              onMouseLeave={() => hover(null)}
              onClick={() => select(s.id)}
            />
          ))}
          {AXES.map((a, i) => {
            const sc = scales[i]!;
            const tf = sc.tickFormat(4, a.si ? '~s' : undefined);
            return (
              <g key={a.key} transform={`translate(${40 + i * xStep},0)`}>
                <line className="axis" y1={top} y2={h - bottom} />
                {decimate(sc.ticks(4), 5).map((t) => (
                  <text key={t} className="tick" x={-4} y={sc(t)} dy="0.32em" textAnchor="end">
                    {tf(t)}
                  </text>
                ))}
                <text className="axis-label" y={h - 6} textAnchor="middle">
                  {a.label}
                </text>
              </g>
            );
          })}
        </svg>
      </div>
      <div className="row wrap axis-controls">
        {AXES.map((a) => (
          <span key={a.key} className="axis-control">
            {a.label}:
            <label className="inline">
              <input type="checkbox" checked={opts[a.key]?.log ?? false} data-testid={`pc-log-${a.key}`} onChange={() => toggle(a.key, 'log')} />
              log
            </label>
            <label className="inline">
              <input type="checkbox" checked={opts[a.key]?.flip ?? false} data-testid={`pc-flip-${a.key}`} onChange={() => toggle(a.key, 'flip')} />
              flip
            </label>
          </span>
        ))}
      </div>
    </section>
  );
}
