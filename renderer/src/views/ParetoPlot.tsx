import { useState } from 'react';
/** Pareto front scatter: every evaluated subnet, the front highlighted and joined; hover shows the architecture. */
import { curveStepAfter, line, scaleLinear } from 'd3';
import { useShallow } from 'zustand/react/shallow';
import type { CompressPoint, EvaluatedSubnet, Objective } from '../../../core/protocol/protocol.js';
import { compressedObjective } from '../search/compressCurve.js';
import { ChartDownloads } from '../charts/ChartDownloads.js';
import { fmt } from '../charts/LineChart.js';
import { subnetsCsv } from '../search/subnetsCsv.js';
import { axisScale, paddedExtent } from '../charts/scales.js';
import { accuracyText, describeArch, frontPoints, OBJECTIVE_LABEL, objectiveValue } from '../search/objectives.js';
import { useSize } from '../components/hooks.js';
import { useWorkbench } from '../store/store.js';

/** Stable empty list: a fresh [] in a selector would re-render forever. */
const NO_IDS: number[] = [];

interface PairProps {
  logX?: boolean;
  x: Objective;
  y: Objective;
  evaluated: EvaluatedSubnet[];
  front: number[];
  size: number;
  testId: string;
  compact?: boolean;
  /** Compressed models of the run (the Compress panel's latest result), drawn as diamonds. */
  compressed?: CompressPoint[];
}

/** Stable empty list (see NO_IDS). */
const NO_COMPRESSED: CompressPoint[] = [];

const isCount = (o: Objective) => o === 'params' || o === 'flops' || o === 'bits';

function ScatterPair({ x, y, evaluated, front, size, testId, compact, logX, compressed = NO_COMPRESSED }: PairProps) {
  const { selected, hovered, select, hover } = useWorkbench(
    useShallow((s) => ({ selected: s.selectedSubnet, hovered: s.hoveredSubnet, select: s.selectSubnet, hover: s.hoverSubnet })),
  );
  const m = compact ? { l: 44, r: 8, t: 8, b: 34 } : { l: 52, r: 12, t: 10, b: 36 };
  const w = size;
  const h = compact ? size : Math.min(360, Math.round(size * 0.6));
  const extra = compressed.flatMap((p) => {
    const [px, py] = [compressedObjective(p, x), compressedObjective(p, y)];
    return px !== null && py !== null && px > 0 ? [{ p, px, py }] : [];
  });
  const xs = [...evaluated.map((s) => objectiveValue(s, x)), ...extra.map((e) => e.px)];
  // A slow outlier (first measurement, a huge subnet) can squash the rest: log x spreads them out.
  const sx = logX && xs.every((v) => v > 0) ? axisScale(xs, [m.l, w - m.r], { log: true }) : scaleLinear().domain(paddedExtent(xs)).range([m.l, w - m.r]).nice();
  const sy = scaleLinear().domain(paddedExtent([...evaluated.map((s) => objectiveValue(s, y)), ...extra.map((e) => e.py)])).range([h - m.b, m.t]).nice();
  const onFront = new Set(front);
  const stairs = line<EvaluatedSubnet>()
    .x((s) => sx(objectiveValue(s, x)))
    .y((s) => sy(objectiveValue(s, y)));
  const fp = frontPoints(evaluated, front, x);
  const xFmt = sx.tickFormat(compact ? 3 : 5, isCount(x) ? '~s' : undefined);
  const yFmt = sy.tickFormat(4, isCount(y) ? '~s' : undefined);
  const drawRank = (s: EvaluatedSubnet) => (s.id === selected ? 2 : onFront.has(s.id) ? 1 : 0);
  return (
    <svg width={w} height={h} className="scatter" data-testid={testId} data-points={evaluated.length} role="group" aria-label={`${OBJECTIVE_LABEL[y]} against ${OBJECTIVE_LABEL[x]}`}>
      {sy.ticks(4).map((t) => (
        <g key={`y${t}`}>
          <line className="grid" x1={m.l} x2={w - m.r} y1={sy(t)} y2={sy(t)} />
          <text className="tick" x={m.l - 5} y={sy(t)} dy="0.32em" textAnchor="end">
            {yFmt(t)}
          </text>
        </g>
      ))}
      {sx.ticks(compact ? 3 : 5).map((t) => (
        <text key={`x${t}`} className="tick" x={sx(t)} y={h - m.b + 12} textAnchor="middle">
          {xFmt(t)}
        </text>
      ))}
      <text className="axis-label" x={(m.l + w - m.r) / 2} y={h - 4} textAnchor="middle">
        {OBJECTIVE_LABEL[x]}
      </text>
      <text className="axis-label" transform={`translate(11,${(m.t + h - m.b) / 2}) rotate(-90)`} textAnchor="middle">
        {OBJECTIVE_LABEL[y]}
      </text>
      {x !== 'accuracy' && y === 'accuracy' && fp.length > 1 ? <path d={stairs.curve(curveStepAfter)(fp) ?? undefined} className="front-line" /> : null}
      {/* Front and selected points last, so they sit on top and stay clickable. */}
      {[...evaluated].sort((a, b) => drawRank(a) - drawRank(b)).map((s) => {
        const isFront = onFront.has(s.id);
        return (
          <circle
            key={s.id}
            cx={sx(objectiveValue(s, x))}
            cy={sy(objectiveValue(s, y))}
            r={s.id === selected ? 7 : isFront ? 5 : 3.5}
            className={`pt${isFront ? ' front' : ''}${s.feasible ? '' : ' infeasible'}${s.id === selected ? ' selected' : ''}${s.id === hovered ? ' hovered' : ''}`}
            tabIndex={isFront ? 0 : -1}
            role="button"
            aria-label={`subnet ${s.id}: accuracy ${accuracyText(s)}, latency ${fmt(s.latencyMs)} ms${isFront ? ', on the front' : ''}`}
            data-testid={isFront ? `front-point-${s.id}` : `point-${s.id}`}
            onMouseEnter={() => hover(s.id)}
            onMouseLeave={() => hover(null)}
            onFocus={() => hover(s.id)}
            onBlur={() => hover(null)}
            onClick={() => select(s.id)}
            onKeyDown={(e) => {
              if (e.key === 'Enter' || e.key === ' ') {
                e.preventDefault();
                select(s.id);
              }
            }}
          />
        );
      })}
      {extra.map(({ p, px, py }, i) => (
        <path key={`c${i}`} className="pt compressed" d={`M${sx(px)},${sy(py) - 5}l5,5l-5,5l-5,-5z`} data-testid={`compressed-point-${i}`}>
          <title>{`${p.method ?? 'uncompressed'} ${JSON.stringify(p.level)}: ${(py * 100).toFixed(1)} % val`}</title>
        </path>
      ))}
    </svg>
  );
}

export function ParetoPlot() {
  const { evaluated, front, objectives, hovered, compressed } = useWorkbench(
    useShallow((s) => ({
      evaluated: s.evaluated,
      front: s.searchSummary?.front ?? NO_IDS,
      objectives: s.searchSummary?.config.objectives ?? s.searchForm.objectives,
      hovered: s.evaluated.find((e) => e.id === s.hoveredSubnet) ?? null,
      compressed: s.compressResult && s.compressResult.runId === (s.searchSummary?.runId ?? s.activeRunId) ? s.compressResult.points : NO_COMPRESSED,
    })),
  );
  const [ref, box] = useSize<HTMLDivElement>();
  const [logX, setLogX] = useState(false);
  const [a, b, c] = objectives as [Objective, Objective, Objective | undefined];
  const width = Math.max(300, box.width - 20);
  const cell = Math.max(150, Math.min(260, Math.floor((width - 8) / 3)));
  if (!evaluated.length)
    return (
      <div ref={ref} className="empty">
        The front appears as subnets are evaluated.
      </div>
    );
  return (
    <div ref={ref} className="pareto" data-testid="pareto">
      {c === undefined ? (
        <>
          <span className="pareto-tools">
            <ChartDownloads
              name={`pareto ${OBJECTIVE_LABEL[a]} vs ${OBJECTIVE_LABEL[b]}`}
              svg={() => document.querySelector<SVGSVGElement>('[data-testid="pareto-scatter"]')}
              csv={() => subnetsCsv(evaluated, front)}
              testId="pareto"
            />
          </span>
          <label className="inline pareto-log">
            <input type="checkbox" checked={logX} data-testid="pareto-log-x" onChange={(e) => setLogX(e.target.checked)} />
            log {OBJECTIVE_LABEL[b]}
          </label>
          <ScatterPair x={b} y={a} evaluated={evaluated} front={front} size={Math.min(width, 900)} logX={logX} testId="pareto-scatter" compressed={compressed} />
        </>
      ) : (
        <div className="scatter-matrix" data-testid="pareto-matrix" style={{ gridTemplateColumns: `repeat(3, ${cell}px)` }}>
          {[a, b, c].map((yo) =>
            [a, b, c].map((xo) =>
              xo === yo ? (
                <div key={`${xo}-${yo}`} className="matrix-diag">
                  {OBJECTIVE_LABEL[xo]}
                </div>
              ) : (
                <ScatterPair key={`${xo}-${yo}`} x={xo} y={yo} evaluated={evaluated} front={front} size={cell} compact testId={`pareto-${xo}-${yo}`} compressed={compressed} />
              ),
            ),
          )}
        </div>
      )}
      <div className="hover-card" aria-live="polite" data-testid="pareto-hover">
        {hovered ? (
          <>
            <b>subnet {hovered.id}</b> · gen {hovered.generation} · acc {accuracyText(hovered)} · {fmt(hovered.latencyMs)} ms · {fmt(hovered.params)} params
            <code>{describeArch(hovered)}</code>
          </>
        ) : (
          <span className="muted">Hover a point to see its architecture; click to select it.</span>
        )}
      </div>
    </div>
  );
}
