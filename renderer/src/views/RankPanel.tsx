/**
 * Ranking quality of the open run's supernet (`switchyard rank`, core/search/rankRun.ts): start a
 * measurement, follow it, and see inherited-weight vs standalone accuracy as a scatter with Kendall
 * τ, Spearman ρ and the seed-to-seed noise floor. The report lives in <run>/rank.json; while a job
 * runs the panel re-reads it every few seconds.
 */
import { useEffect, useId, useState } from 'react';
import type { RankReport } from '../../../core/protocol/protocol.js';
import { formatDuration } from '../charts/scales.js';
import { rankScatter } from '../search/rankScatter.js';
import { core, errorText } from '../store/coreActions.js';
import { useWorkbench } from '../store/store.js';

const POLL_MS = 3000;
const fig = (v: number | null) => (v === null ? 'n/a' : v.toFixed(2));
const pct = (v: number) => `${(v * 100).toFixed(1)}%`;

function RankScatterSvg({ report }: { report: RankReport }) {
  const box = { width: 300, height: 260, margin: { l: 46, r: 10, t: 10, b: 36 } };
  const g = rankScatter(report, box);
  const ticks = g.x.ticks(4);
  const tf = g.x.tickFormat(4, '.0%');
  const n = report.subnets[0]?.inherited.n ?? 0;
  return (
    <svg width={box.width} height={box.height} className="scatter" data-testid="rank-scatter" data-points={g.points.length} role="img" aria-label="standalone against inherited accuracy">
      {ticks.map((t) => (
        <g key={t}>
          <line className="grid" x1={box.margin.l} x2={box.width - box.margin.r} y1={g.y(t)} y2={g.y(t)} />
          <text className="tick" x={box.margin.l - 5} y={g.y(t)} dy="0.32em" textAnchor="end">
            {tf(t)}
          </text>
          <text className="tick" x={g.x(t)} y={box.height - box.margin.b + 12} textAnchor="middle">
            {tf(t)}
          </text>
        </g>
      ))}
      <line className="front-line" x1={g.diagonal[0][0]} y1={g.diagonal[0][1]} x2={g.diagonal[1][0]} y2={g.diagonal[1][1]} strokeDasharray="4 3" />
      <text className="axis-label" x={(box.margin.l + box.width - box.margin.r) / 2} y={box.height - 4} textAnchor="middle">
        inherited weights (val, n={n})
      </text>
      <text className="axis-label" transform={`translate(11,${(box.margin.t + box.height - box.margin.b) / 2}) rotate(-90)`} textAnchor="middle">
        standalone, mean of seeds
      </text>
      {g.points.map((p) => (
        <g key={p.index}>
          {p.yLo !== p.yHi ? <line x1={p.cx} x2={p.cx} y1={p.yLo} y2={p.yHi} style={{ stroke: 'currentColor', opacity: 0.55, strokeWidth: 1.5 }} /> : null}
          <circle cx={p.cx} cy={p.cy} r={4.5} className="pt front" data-testid={`rank-point-${p.index}`}>
            <title>
              {`${p.params} params: inherited ${pct(p.inherited)}, standalone ${p.seeds.map(pct).join(' / ')}`}
            </title>
          </circle>
        </g>
      ))}
    </svg>
  );
}

export function RankPanel() {
  const runId = useWorkbench((s) => s.activeRunId);
  const connected = useWorkbench((s) => s.connection === 'open');
  const [report, setReport] = useState<RankReport | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [form, setForm] = useState({ subnets: 6, steps: 300, seeds: 2 });
  const ids = { subnets: useId(), steps: useId(), seeds: useId() };
  const running = report?.status === 'running' || report?.status === 'queued';

  // The open run's report, read again whenever the run changes.
  useEffect(() => {
    setReport(null);
    setError(null);
    if (!runId || !connected) return;
    let stopped = false;
    core()
      .call('rank.get', { runId })
      .then((r) => !stopped && setReport(r))
      .catch((e) => !stopped && setError(errorText(e)));
    return () => {
      stopped = true;
    };
  }, [runId, connected]);

  // While a job runs, follow its rank.json.
  useEffect(() => {
    if (!runId || !connected || !running) return;
    const timer = setInterval(() => {
      core()
        .call('rank.get', { runId })
        // null: the child has not written rank.json yet; keep the placeholder.
        .then((r) => r && setReport(r))
        .catch((e) => setError(errorText(e)));
    }, POLL_MS);
    return () => clearInterval(timer);
  }, [runId, connected, running]);

  const start = async () => {
    if (!runId) return;
    setError(null);
    try {
      await core().call('rank.start', { runId, ...form });
      // The child writes rank.json once the inherited scores are in; until then show an empty job.
      const now = new Date().toISOString();
      setReport({
        runId,
        status: 'running',
        config: { runId, ...form, evalSamples: 0, seed: 1 },
        createdAt: now,
        updatedAt: now,
        backend: '',
        device: '',
        supernetStep: 0,
        subnets: [],
        kendallTau: null,
        spearmanRho: null,
        seedTaus: [],
        seedTau: null,
        progress: { done: 0, total: form.subnets * form.seeds, etaSec: 0 },
      });
    } catch (e) {
      setError(errorText(e));
    }
  };
  const cancel = async () => {
    if (runId) await core().call('rank.cancel', { runId }).catch((e) => setError(errorText(e)));
  };

  if (!runId) return null;
  const field = (k: keyof typeof form, label: string) => (
    <div className="field">
      <label htmlFor={ids[k]}>{label}</label>
      <input id={ids[k]} type="number" value={form[k]} data-testid={`rank-${k}`} onChange={(e) => setForm({ ...form, [k]: Number(e.target.value) })} />
    </div>
  );
  return (
    <section className="panel" aria-label="Ranking quality" data-testid="rank-panel">
      <h3>Ranking quality</h3>
      <p className="muted">Does the supernet&apos;s accuracy order subnets as training them alone does? Subnets spread by parameter count are trained from scratch and compared.</p>
      <div className="field-grid">
        {field('subnets', 'Subnets')}
        {field('steps', 'Steps each')}
        {field('seeds', 'Seeds')}
      </div>
      <div className="row">
        <button type="button" data-testid="rank-start" disabled={running || !connected} onClick={() => void start()}>
          Measure ranking
        </button>
        <button type="button" data-testid="rank-cancel" disabled={!running} onClick={() => void cancel()}>
          Stop
        </button>
      </div>
      {error ? <p className="warn">{error}</p> : null}
      {report ? (
        <>
          <p className="stats" data-testid="rank-figures">
            <span>Kendall τ {fig(report.kendallTau)}</span>
            <span>Spearman ρ {fig(report.spearmanRho)}</span>
            <span>noise floor (seed-to-seed τ) {fig(report.seedTau)}</span>
          </p>
          <p className="muted">
            {report.status}: {report.progress.done}/{report.progress.total} trainings ({report.config.steps} steps × {report.config.seeds} seeds, {report.subnets.length} subnets)
            {running && report.progress.done > 0 ? ` · ETA ${formatDuration(report.progress.etaSec)}` : ''}
          </p>
          <RankScatterSvg report={report} />
        </>
      ) : null}
    </section>
  );
}
