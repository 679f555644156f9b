/**
 * A run's searches side by side: their fronts overlaid (one colour per search), hypervolume per
 * generation per search, and a table. Only searches on the same objectives and the run's one
 * hypervolume scale are overlaid; the rest are listed, marked as not comparable.
 */
import { curveStepAfter, line, scaleLinear } from 'd3';
import { useState } from 'react';
import { useShallow } from 'zustand/react/shallow';
import type { EvaluatedSubnet, Objective, SearchSummary } from '../../../core/protocol/protocol.js';
import { fmt, LineChart } from '../charts/LineChart.js';
import { paddedExtent } from '../charts/scales.js';
import { useSize } from '../components/hooks.js';
import { frontMembers, searchRows, type SearchRow } from '../search/compareSearches.js';
import { accuracyText, OBJECTIVE_LABEL, objectiveValue } from '../search/objectives.js';
import { useWorkbench } from '../store/store.js';

function OverlaidFronts({ searches, rows, x, width }: { searches: SearchSummary[]; rows: SearchRow[]; x: Objective; width: number }) {
  const m = { l: 52, r: 12, t: 10, b: 36 };
  const h = 260;
  const fronts = searches.map((s) => frontMembers(s).sort((a, b) => objectiveValue(a, x) - objectiveValue(b, x)));
  const all = fronts.flat();
  if (all.length === 0) return null;
  const sx = scaleLinear().domain(paddedExtent(all.map((r) => objectiveValue(r, x)))).range([m.l, width - m.r]).nice();
  const sy = scaleLinear().domain(paddedExtent(all.map((r) => r.accuracy))).range([h - m.b, m.t]).nice();
  const stairs = line<EvaluatedSubnet>()
    .x((r) => sx(objectiveValue(r, x)))
    .y((r) => sy(r.accuracy))
    .curve(curveStepAfter);
  return (
    <svg width={width} height={h} className="scatter" data-testid="compare-fronts" role="group" aria-label={`fronts of ${searches.length} searches: accuracy against ${OBJECTIVE_LABEL[x]}`}>
      {sy.ticks(4).map((t) => (
        <g key={`y${t}`}>
          <line className="grid" x1={m.l} x2={width - m.r} y1={sy(t)} y2={sy(t)} />
          <text className="tick" x={m.l - 5} y={sy(t)} dy="0.32em" textAnchor="end">
            {fmt(t)}
          </text>
        </g>
      ))}
      {sx.ticks(5).map((t) => (
        <text key={`x${t}`} className="tick" x={sx(t)} y={h - m.b + 12} textAnchor="middle">
          {fmt(t)}
        </text>
      ))}
      <text className="axis-label" x={(m.l + width - m.r) / 2} y={h - 4} textAnchor="middle">
        {OBJECTIVE_LABEL[x]}
      </text>
      <text className="axis-label" transform={`translate(11,${(m.t + h - m.b) / 2}) rotate(-90)`} textAnchor="middle">
        validation accuracy
      </text>
      {fronts.map((f, i) => (
        <g key={searches[i]!.id} data-testid={`compare-front-${searches[i]!.id}`}>
          {f.length > 1 ? <path d={stairs(f) ?? undefined} fill="none" stroke={rows[i]!.color} strokeWidth={1.5} /> : null}
          {f.map((r) => (
            <circle key={r.id} cx={sx(objectiveValue(r, x))} cy={sy(r.accuracy)} r={4} fill={rows[i]!.color}>
              <title>{`${searches[i]!.config.strategy} · subnet ${r.id}: ${accuracyText(r)} · ${fmt(objectiveValue(r, x))}`}</title>
            </circle>
          ))}
        </g>
      ))}
    </svg>
  );
}

export function SearchComparison() {
  const { searches, currentId } = useWorkbench(useShallow((s) => ({ searches: s.runSearches, currentId: s.searchId })));
  const [hidden, setHidden] = useState<ReadonlySet<string>>(new Set());
  const [ref, box] = useSize<HTMLDivElement>();
  if (searches.length < 2) return null;
  const reference = searches.find((s) => s.id === currentId) ?? searches[0]!;
  const rows = searchRows(searches, reference);
  const shown = searches.map((s, i) => ({ s, row: rows[i]! })).filter(({ s, row }) => row.comparable && !hidden.has(s.id));
  const x = reference.config.objectives.find((o) => o !== 'accuracy') ?? 'latency';
  const toggle = (id: string) => setHidden((h) => (h.has(id) ? new Set([...h].filter((v) => v !== id)) : new Set([...h, id])));
  return (
    <section ref={ref} className="panel" aria-label="Compare searches" data-testid="search-compare">
      <h3>Searches of this run</h3>
      <p className="muted">
        Fronts and hypervolumes overlay for searches on {reference.config.objectives.join(' · ')} scored on the run&apos;s one hypervolume scale
        {reference.hvScale ? ` (${Object.entries(reference.hvScale.scales).map(([o, v]) => `${o} ÷ ${fmt(v)}`).join(', ')}; reference ${Object.values(reference.hvScale.ref).map(fmt).join(' × ')})` : ''}.
      </p>
      <OverlaidFronts searches={shown.map((v) => v.s)} rows={shown.map((v) => v.row)} x={x} width={Math.max(300, Math.min(900, box.width - 24))} />
      <LineChart
        title="Hypervolume per generation"
        xLabel="generation"
        series={shown.map(({ s, row }) => ({ label: `${s.config.strategy} ${s.id.slice(-6)}`, color: row.color, points: s.hypervolume.map((h) => [h.generation, h.value] as [number, number]) }))}
        height={170}
        testId="compare-hypervolume"
      />
      <table className="compare-table" data-testid="compare-table">
        <thead>
          <tr>
            <th />
            <th>search</th>
            <th>strategy</th>
            <th>objectives</th>
            <th>status</th>
            <th>evaluated</th>
            <th>front</th>
            <th>hypervolume</th>
            <th>best accuracy</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((r) => (
            <tr key={r.id} data-testid={`compare-row-${r.id}`} className={r.comparable ? '' : 'muted'} title={r.comparable ? undefined : 'other objectives or another hypervolume scale: not comparable'}>
              <td>
                <input type="checkbox" aria-label={`show search ${r.id}`} disabled={!r.comparable} checked={r.comparable && !hidden.has(r.id)} onChange={() => toggle(r.id)} />
                <span className="swatch" style={{ background: r.color }} />
              </td>
              <td>
                <code>{r.id}</code>
                {r.id === reference.id ? ' (this)' : ''}
              </td>
              <td>{r.strategy}</td>
              <td>{r.objectives}</td>
              <td>{r.status}</td>
              <td>{r.evaluated}</td>
              <td>{r.front}</td>
              <td>{r.hypervolume === null ? '—' : r.comparable ? r.hypervolume.toFixed(4) : `(${r.hypervolume.toFixed(4)})`}</td>
              <td>{r.best ? accuracyText(r.best) : '—'}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
