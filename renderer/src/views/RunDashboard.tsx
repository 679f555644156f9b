import { useState } from 'react';
import { useShallow } from 'zustand/react/shallow';
import type { MetricPoint } from '../../../core/protocol/protocol.js';
import { accuracyEstimate, formatAccuracy } from '../../../core/protocol/accuracyInterval.js';
import { fmt, LineChart, type Series } from '../charts/LineChart.js';
import { formatCount, formatDuration, smoothSeries } from '../charts/scales.js';
import { useFrameValue } from '../components/hooks.js';
import { openRun, resumeRun, stopRun } from '../store/coreActions.js';
import { useWorkbench } from '../store/store.js';
import { RouterPanel } from './RouterPanel.js';
import { StrategyPanel } from './StrategyPanel.js';
import { FewShotPanel } from './FewShotPanel.js';
import { DartsPanel } from './DartsPanel.js';
import { GeneratePanel } from './GeneratePanel.js';

const TRAIN = 'var(--series-1)';
const VAL = 'var(--series-2)';

/** x of a point on the chosen axis: the step, or seconds since the run started (wall time). */
export type ChartX = 'step' | 'time';

export function series(points: readonly MetricPoint[], pick: (p: MetricPoint) => number | undefined, xAxis: ChartX = 'step'): [number, number][] {
  const out: [number, number][] = [];
  for (const p of points) {
    const v = pick(p);
    if (v !== undefined && Number.isFinite(v)) out.push([xAxis === 'time' ? p.time : p.step, v]);
  }
  return out;
}

/** The latest point that carries a validation score. */
function lastValidation(points: readonly MetricPoint[]): MetricPoint | undefined {
  for (let i = points.length - 1; i >= 0; i--) if (points[i]!.valAccuracy !== undefined) return points[i];
  return undefined;
}

function RunHeader() {
  const { record, summary } = useWorkbench(
    useShallow((s) => ({ record: s.activeRecord, summary: s.runs.find((r) => r.id === s.activeRunId) ?? s.activeRecord?.summary })),
  );
  const last = useFrameValue((s) => s.metrics.at(-1));
  const lastVal = useFrameValue((s) => lastValidation(s.metrics));
  if (!summary) return null;
  const step = Math.max(summary.step, last?.step ?? 0);
  const frac = summary.steps ? Math.min(1, step / summary.steps) : 0;
  const running = summary.status === 'running' || summary.status === 'queued';
  const backend = record?.backend ? `${record.backend.name} · ${record.backend.device}` : `${summary.backend} · ${summary.device}`;
  return (
    <div className="run-header" data-testid="run-header">
      <div className="row">
        <h2 data-testid="run-title">{summary.name}</h2>
        <span className={`badge status-badge status-${summary.status}`} data-testid="run-status">
          {summary.status}
        </span>
        <span className="badge" data-testid="run-backend" title="Backend and device this run trains on">
          {backend}
        </span>
        <span className="toolbar-fill" />
        {running ? (
          <button type="button" data-testid="run-stop" onClick={() => void stopRun(summary.id)}>
            Stop
          </button>
        ) : null}
        {summary.status === 'stopped' || summary.status === 'interrupted' ? (
          <button type="button" data-testid="run-resume" onClick={() => void resumeRun(summary.id)}>
            Resume
          </button>
        ) : null}
      </div>
      <div
        className="progress"
        role="progressbar"
        aria-label="Training progress"
        aria-valuemin={0}
        aria-valuemax={summary.steps}
        aria-valuenow={step}
        data-testid="run-progress"
      >
        <div className="progress-fill" style={{ width: `${(frac * 100).toFixed(1)}%` }} />
      </div>
      <div className="stats" aria-live="off">
        <span data-testid="run-step">
          step {step} / {summary.steps}
        </span>
        <span data-testid="run-eta">ETA {running && last ? formatDuration(last.etaSec) : '—'}</span>
        <span data-testid="run-throughput">{last ? `${formatCount(last.samplesPerSec)} samples/s · ${fmt(last.stepMs)} ms/step` : '—'}</span>
        <span>elapsed {last ? formatDuration(last.time) : '—'}</span>
        {record ? (
          <span data-testid="run-config">
            {record.config.data.kind} · batch {record.config.batchSize} · lr {record.config.learningRate} · {record.config.optimizer} · seed {record.config.seed}
          </span>
        ) : null}
        {record?.config.upcycleFrom?.length ? (
          <span data-testid="run-lineage" title="BAM upcycling: the experts started from these runs' FFNs (expert k ← run k mod R), routers fresh, other weights averaged">
            upcycled from{' '}
            {record.config.upcycleFrom.map((id) => (
              <button key={id} type="button" className="link" onClick={() => void openRun(id)}>
                {id}
              </button>
            ))}
          </span>
        ) : null}
        {summary.finalVal ? (
          <span data-testid="run-val-accuracy" title="The evaluated subnet on the whole validation split (held out of training), 95 % Wilson interval">
            validation {formatAccuracy(summary.finalVal)}
          </span>
        ) : lastVal?.valAccuracy !== undefined ? (
          <span data-testid="run-val-accuracy" title="The evaluated subnet on the validation split (held out of training), 95 % Wilson interval">
            validation {lastVal.valSamples !== undefined ? formatAccuracy(accuracyEstimate('val', lastVal.valAccuracy, lastVal.valSamples)) : fmt(lastVal.valAccuracy)}
          </span>
        ) : null}
        {summary.test ? (
          <span data-testid="run-test-accuracy" title="The final report on the whole test split (scored once, after training)">
            test {formatAccuracy(summary.test)}
          </span>
        ) : null}
        {summary.error ? <span className="error-text">{summary.error}</span> : null}
      </div>
    </div>
  );
}

/** Train curve (smoothed over the faint raw one when smoothing is on) and the validation curve. */
function trainVal(metrics: readonly MetricPoint[], train: (p: MetricPoint) => number, val: (p: MetricPoint) => number | undefined, smooth: number, xAxis: ChartX): Series[] {
  const raw = series(metrics, train, xAxis);
  const out: Series[] = smooth > 0 ? [{ label: 'train (raw)', color: TRAIN, points: raw, faint: true }] : [];
  out.push({ label: 'train', color: TRAIN, points: smooth > 0 ? smoothSeries(raw, smooth) : raw });
  out.push({ label: 'validation', color: VAL, points: series(metrics, val, xAxis), dashed: true });
  return out;
}

/** Steps or wall time on the x axis of every training curve. */
export function ChartXToggle() {
  const { chartX, setChartX } = useWorkbench(useShallow((s) => ({ chartX: s.chartX, setChartX: s.setChartX })));
  return (
    <div role="radiogroup" aria-label="x axis" className="segmented">
      {(['step', 'time'] as const).map((k) => (
        <button key={k} type="button" role="radio" aria-checked={chartX === k} data-testid={`chart-x-${k}`} onClick={() => setChartX(k)}>
          {k === 'step' ? 'steps' : 'wall time'}
        </button>
      ))}
    </div>
  );
}

function Curves() {
  const metrics = useFrameValue((s) => s.metrics);
  const [smooth, setSmooth] = useState(0.8);
  const xAxis = useWorkbench((s) => s.chartX);
  const loss = trainVal(metrics, (p) => p.loss, (p) => p.valLoss, smooth, xAxis);
  // Inplace-distillation strategies: the students' KD loss beside the task loss (absent otherwise).
  const kd = series(metrics, (p) => p.kdLoss, xAxis);
  if (kd.length) loss.push({ label: 'distillation (KD)', color: 'var(--series-4)', points: smooth > 0 ? smoothSeries(kd, smooth) : kd });
  const acc = trainVal(metrics, (p) => p.accuracy, (p) => p.valAccuracy, smooth, xAxis);
  const speed: Series[] = [{ label: 'samples/s', color: 'var(--series-3)', points: series(metrics, (p) => p.samplesPerSec, xAxis) }];
  const xProps = { xLabel: xAxis === 'time' ? 'wall time' : 'step', xIsTime: xAxis === 'time' };
  return (
    <>
      <div className="row chart-controls">
        <label className="inline" htmlFor="smooth">
          Smoothing
        </label>
        <input
          id="smooth"
          type="range"
          min={0}
          max={0.99}
          step={0.01}
          value={smooth}
          data-testid="chart-smoothing"
          aria-valuetext={smooth === 0 ? 'off' : String(smooth)}
          onChange={(e) => setSmooth(Number(e.target.value))}
        />
        <span className="muted">{smooth === 0 ? 'off' : smooth.toFixed(2)}</span>
        <ChartXToggle />
      </div>
    <div className="chart-grid">
      <LineChart title="Loss" series={loss} testId="chart-loss" {...xProps} />
      <LineChart title="Accuracy" series={acc} yDomain={[0, 1]} allowLog={false} testId="chart-accuracy" {...xProps} />
      <LineChart title="Throughput" series={speed} height={140} testId="chart-throughput" {...xProps} />
    </div>
    </>
  );
}

function RunLog() {
  const logs = useWorkbench((s) => s.logs);
  if (!logs.length) return null;
  return (
    <details className="panel run-log" data-testid="run-log">
      <summary>Log ({logs.length})</summary>
      <ol>
        {logs.slice(-100).map((l, i) => (
          <li key={i} className={`log-${l.level}`}>
            {l.message}
          </li>
        ))}
      </ol>
    </details>
  );
}

export function RunDashboard() {
  const active = useWorkbench((s) => s.activeRunId);
  if (!active)
    return (
      <div className="empty" data-testid="dashboard-empty">
        Start a run or pick one from the list.
      </div>
    );
  return (
    <div className="dashboard" data-testid="dashboard">
      <RunHeader />
      <Curves />
      <StrategyPanel />
      <FewShotPanel />
      <DartsPanel />
      <RouterPanel />
      <GeneratePanel />
      <RunLog />
    </div>
  );
}
