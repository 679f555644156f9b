/**
 * Runs compared as researchers do in TensorBoard / W&B: a table (sort, regex filter, rename, tag,
 * delete, open, space → editor) and the ticked runs' curves overlaid, each run in its own stable colour.
 */
import { useState } from 'react';
import { useShallow } from 'zustand/react/shallow';
import { formatAccuracy } from '../../../core/protocol/accuracyInterval.js';
import type { MetricPoint, RunSummary } from '../../../core/protocol/protocol.js';
import { fmt, LineChart, type Series } from '../charts/LineChart.js';
import { meanFluctuation } from '../charts/routerSeries.js';
import { smoothSeries } from '../charts/scales.js';
import { bestVal, filterRuns, parseTags, runColor, sortRunsBy, type RunColumn } from '../runs/runTable.js';
import { deleteRun, openRunSpace, renameRun, tagRun, toggleCompare } from '../store/compareActions.js';
import { openRun } from '../store/coreActions.js';
import { useWorkbench } from '../store/store.js';
import { ChartXToggle, series } from './RunDashboard.js';

const COLUMNS: { col: RunColumn; label: string }[] = [
  { col: 'name', label: 'Run' },
  { col: 'createdAt', label: 'Started' },
  { col: 'spaceName', label: 'Space' },
  { col: 'dataKind', label: 'Data' },
  { col: 'strategy', label: 'Strategy' },
  { col: 'steps', label: 'Steps' },
  { col: 'status', label: 'Status' },
  { col: 'bestVal', label: 'Best val. acc.' },
];

function bestValText(r: RunSummary): string {
  if (r.finalVal) return formatAccuracy(r.finalVal);
  const v = bestVal(r);
  return v === null ? '—' : fmt(v);
}

/** A text field edited in place: Enter commits, Escape or leaving it cancels. */
function EditInput(props: { initial: string; label: string; placeholder?: string; testId: string; onCommit: (text: string) => void; onDone: () => void }) {
  const [text, setText] = useState(props.initial);
  return (
    <input
      type="text"
      autoFocus
      value={text}
      placeholder={props.placeholder}
      aria-label={props.label}
      data-testid={props.testId}
      onChange={(e) => setText(e.target.value)}
      onBlur={props.onDone}
      onKeyDown={(e) => {
        if (e.key === 'Enter') {
          props.onCommit(text);
          props.onDone();
        } else if (e.key === 'Escape') props.onDone();
      }}
    />
  );
}

function NameCell({ r }: { r: RunSummary }) {
  const [editing, setEditing] = useState(false);
  if (editing) return <EditInput initial={r.name} label={`New name for ${r.name}`} testId={`run-rename-input-${r.id}`} onCommit={(t) => void renameRun(r.id, t)} onDone={() => setEditing(false)} />;
  return (
    <span className="run-name-cell">
      <span data-testid={`run-name-${r.id}`}>{r.name}</span>
      <button
        type="button"
        className="tool"
        title="Rename"
        aria-label={`Rename ${r.name}`}
        data-testid={`run-rename-${r.id}`}
        onClick={() => setEditing(true)}
      >
        ✎
      </button>
    </span>
  );
}

function TagsCell({ r }: { r: RunSummary }) {
  const [editing, setEditing] = useState(false);
  const tags = r.tags ?? [];
  if (editing)
    return (
      <EditInput initial={tags.join(', ')} label={`Tags of ${r.name}`} placeholder="tags, comma separated" testId={`run-tags-input-${r.id}`} onCommit={(t) => void tagRun(r.id, parseTags(t))} onDone={() => setEditing(false)} />
    );
  return (
    <span className="tags-cell">
      {tags.map((t) => (
        <span key={t} className="tag" data-testid={`run-tag-${r.id}`}>
          #{t}
        </span>
      ))}
      <button
        type="button"
        className="tool"
        title="Edit tags"
        aria-label={`Edit the tags of ${r.name}`}
        data-testid={`run-tags-${r.id}`}
        onClick={() => setEditing(true)}
      >
        #
      </button>
    </span>
  );
}

function DeleteButton({ r }: { r: RunSummary }) {
  const [armed, setArmed] = useState(false);
  const busy = r.status === 'running' || r.status === 'queued';
  return (
    <button
      type="button"
      className={`tool${armed ? ' danger' : ''}`}
      disabled={busy}
      title={busy ? 'Stop the run before deleting it' : 'Delete the run and its files'}
      data-testid={`run-delete-${r.id}`}
      onBlur={() => setArmed(false)}
      onClick={() => (armed ? void deleteRun(r.id) : setArmed(true))}
    >
      {armed ? 'confirm delete' : 'delete'}
    </button>
  );
}

function RunTable() {
  const { runs, filter, sort, compareIds, setFilter, setSort, active } = useWorkbench(
    useShallow((s) => ({
      runs: s.runs,
      filter: s.runFilter,
      sort: s.runSort,
      compareIds: s.compareIds,
      setFilter: s.setRunFilter,
      setSort: s.setRunSort,
      active: s.activeRunId,
    })),
  );
  const { runs: matched, regex } = filterRuns(runs, filter);
  const rows = sortRunsBy(matched, sort.col, sort.dir);
  const allTicked = rows.length > 0 && rows.every((r) => compareIds.includes(r.id));
  return (
    <section className="panel run-table-panel" aria-label="Run table">
      <div className="toolbar">
        <h3>Runs</h3>
        <input
          type="text"
          className={`run-filter${regex ? '' : ' invalid'}`}
          placeholder="filter runs (regex: name, #tag, space, data, strategy, status)"
          aria-label="Filter runs by regular expression"
          value={filter}
          data-testid="runs-filter"
          data-regex={regex}
          onChange={(e) => setFilter(e.target.value)}
        />
        <span className="muted" data-testid="runs-filter-count">
          {rows.length} of {runs.length}
        </span>
      </div>
      <div className="table-scroll">
        <table className="run-table" data-testid="run-table">
          <thead>
            <tr>
              <th>
                <input
                  type="checkbox"
                  aria-label="Overlay every shown run"
                  checked={allTicked}
                  data-testid="compare-all"
                  onChange={(e) => rows.forEach((r) => void toggleCompare(r.id, e.target.checked))}
                />
              </th>
              {COLUMNS.map(({ col, label }) => (
                <th key={col} aria-sort={sort.col === col ? (sort.dir === 'asc' ? 'ascending' : 'descending') : 'none'}>
                  <button type="button" className="th-sort" data-testid={`runs-sort-${col}`} onClick={() => setSort(col)}>
                    {label}
                    {sort.col === col ? (sort.dir === 'asc' ? ' ▲' : ' ▼') : ''}
                  </button>
                </th>
              ))}
              <th>Tags</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {rows.map((r) => (
              <tr key={r.id} data-testid={`run-row-${r.id}`} className={r.id === active ? 'selected' : undefined}>
                <td>
                  <label className="compare-tick" style={{ color: runColor(r.id) }}>
                    <input
                      type="checkbox"
                      checked={compareIds.includes(r.id)}
                      aria-label={`Overlay ${r.name}`}
                      data-testid={`compare-toggle-${r.id}`}
                      style={{ accentColor: runColor(r.id) }}
                      onChange={(e) => void toggleCompare(r.id, e.target.checked)}
                    />
                    <span className="swatch" style={{ background: runColor(r.id) }} />
                  </label>
                </td>
                <td>
                  <NameCell key={r.name} r={r} />
                </td>
                <td title={r.createdAt}>{new Date(r.createdAt).toLocaleString()}</td>
                <td>{r.spaceName}</td>
                <td>{r.dataKind}</td>
                <td>{r.strategy}</td>
                <td>
                  {r.step}/{r.steps}
                </td>
                <td>
                  <span className={`status-dot status-${r.status}`} aria-hidden="true" /> {r.status}
                </td>
                <td data-testid={`run-best-${r.id}`}>{bestValText(r)}</td>
                <td>
                  <TagsCell r={r} />
                </td>
                <td>
                  <span className="row-actions">
                  <button type="button" className="tool" data-testid={`run-open-${r.id}`} title="Show its dashboard" onClick={() => void openRun(r.id).then(() => useWorkbench.getState().setView('runs'))}>
                    open
                  </button>
                  <button type="button" className="tool" data-testid={`run-edit-space-${r.id}`} title="Load its search space into the editor" onClick={() => void openRunSpace(r.id)}>
                    space → editor
                  </button>
                  <DeleteButton r={r} />
                  </span>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {runs.length === 0 ? <p className="muted">No runs yet.</p> : null}
    </section>
  );
}

const NO_POINTS: MetricPoint[] = [];

function Overlay() {
  const { ids, curves, runs, xAxis } = useWorkbench(
    useShallow((s) => ({ ids: s.compareIds, curves: s.compareCurves, runs: s.runs, xAxis: s.chartX })),
  );
  const [smooth, setSmooth] = useState(0.6);
  if (!ids.length)
    return (
      <div className="empty" data-testid="compare-empty">
        Tick runs in the table to overlay their curves.
      </div>
    );
  const named = ids.map((id) => ({ id, name: runs.find((r) => r.id === id)?.name ?? id, points: curves[id] ?? NO_POINTS }));
  const loss: Series[] = named.map((r) => {
    const raw = series(r.points, (p) => p.loss, xAxis);
    return { label: r.name, color: runColor(r.id), points: smooth > 0 ? smoothSeries(raw, smooth) : raw };
  });
  const val: Series[] = named.map((r) => ({ label: r.name, color: runColor(r.id), points: series(r.points, (p) => p.valAccuracy, xAxis) }));
  // Routing fluctuation (mean over MoE layers, validation points): e.g. a run with and one without similarity-aware routing.
  const fluctuation: Series[] = named.map((r) => ({ label: r.name, color: runColor(r.id), points: series(r.points, meanFluctuation, xAxis) }));
  const xProps = { xLabel: xAxis === 'time' ? 'wall time' : 'step', xIsTime: xAxis === 'time' };
  return (
    <section aria-label="Overlaid curves" data-testid="compare-overlay" data-runs={ids.length}>
      <div className="row chart-controls">
        <label className="inline" htmlFor="compare-smooth">
          Smoothing
        </label>
        <input id="compare-smooth" type="range" min={0} max={0.99} step={0.01} value={smooth} onChange={(e) => setSmooth(Number(e.target.value))} />
        <span className="muted">{smooth === 0 ? 'off' : smooth.toFixed(2)}</span>
        <ChartXToggle />
      </div>
      <div className="chart-grid">
        <LineChart title="Training loss" series={loss} testId="compare-loss" {...xProps} />
        <LineChart title="Validation accuracy" series={val} yDomain={[0, 1]} allowLog={false} testId="compare-val-accuracy" {...xProps} />
        {fluctuation.some((s) => s.points.length) ? (
          <LineChart title="Routing fluctuation (share of probe tokens whose top expert changed)" series={fluctuation} yDomain={[0, 1]} allowLog={false} testId="compare-fluctuation" {...xProps} />
        ) : null}
      </div>
    </section>
  );
}

export function CompareView() {
  return (
    <div className="view compare-view" data-testid="view-compare">
      <RunTable />
      <Overlay />
    </div>
  );
}
