import { useShallow } from 'zustand/react/shallow';
import { formatAccuracy } from '../../../core/protocol/accuracyInterval.js';
import { fmt } from '../charts/LineChart.js';
import { openRun, refreshRuns } from '../store/coreActions.js';
import { useWorkbench } from '../store/store.js';

/** A queued run's job as the queue sees it (core/queue): waiting for a worker, on one, or finished. */
function jobState(status: string): 'queued' | 'active' | 'done' {
  return status === 'queued' ? 'queued' : status === 'running' ? 'active' : 'done';
}

export function RunList() {
  const { runs, active } = useWorkbench(useShallow((s) => ({ runs: s.runs, active: s.activeRunId })));
  return (
    <section className="panel run-list" aria-label="Past runs">
      <div className="row">
        <h3>Runs</h3>
        <span className="toolbar-fill" />
        <button type="button" data-testid="runs-refresh" onClick={() => void refreshRuns()}>
          Refresh
        </button>
      </div>
      {runs.length === 0 ? <p className="muted">No runs yet.</p> : null}
      <ul data-testid="run-list">
        {runs.map((r) => (
          <li key={r.id}>
            <button
              type="button"
              className={`run-item${r.id === active ? ' selected' : ''}`}
              aria-current={r.id === active}
              data-testid={`run-item-${r.id}`}
              data-status={r.status}
              onClick={() => void openRun(r.id)}
            >
              <span className={`status-dot status-${r.status}`} aria-hidden="true" />
              <span className="run-name">{r.name}</span>
              <span className="run-meta">
                {r.status} · {r.step}/{r.steps} · {r.strategy} · {r.dataKind}
                {r.finalVal ? ` · val ${formatAccuracy(r.finalVal)}` : r.bestValAccuracy !== null ? ` · val ${fmt(r.bestValAccuracy)}` : ''}
                {r.test ? ` · test ${formatAccuracy(r.test)}` : ''}
              </span>
              {r.jobId ? (
                <span className="run-meta" data-testid={`run-job-${r.id}`} data-job-state={jobState(r.status)}>
                  job {jobState(r.status)}
                  {r.worker ? ` on ${r.worker}` : ''}
                </span>
              ) : null}
              {/* A damaged run's error names its run.json and what is wrong with it. */}
              {r.status === 'damaged' && r.error ? (
                <span className="run-error error-text" data-testid={`run-error-${r.id}`}>
                  {r.error}
                </span>
              ) : null}
            </button>
          </li>
        ))}
      </ul>
    </section>
  );
}
