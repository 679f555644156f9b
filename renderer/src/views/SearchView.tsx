import { SEARCH_STRATEGIES, SEARCH_STRATEGY_NAMES } from '../../../core/protocol/strategyNames.js';
import { useId } from 'react';
import { useShallow } from 'zustand/react/shallow';
import type { EvaluatedSubnet, Objective, SearchSummary } from '../../../core/protocol/protocol.js';
import { fmt, LineChart } from '../charts/LineChart.js';
import { formatDuration } from '../charts/scales.js';
import { accuracyText, describeArch, OBJECTIVES, OBJECTIVE_LABEL } from '../search/objectives.js';
import { cancelSearch, exportSelected, pickSearch, startSearch } from '../store/coreActions.js';
import type { SearchForm } from '../store/searchSlice.js';
import { useWorkbench } from '../store/store.js';
import { saveText } from '../charts/download.js';
import { subnetsCsv } from '../search/subnetsCsv.js';
import { exportZipUrl } from '../transport/downloadUrl.js';
import { ParallelCoords } from './ParallelCoords.js';
import { SpaceGraphView } from './SpaceGraph.js';
import { ParetoPlot } from './ParetoPlot.js';
import { RankPanel } from './RankPanel.js';
import { CompressPanel } from './CompressPanel.js';
import { SearchComparison } from './SearchComparison.js';
import { formatAccuracy } from '../../../core/protocol/accuracyInterval.js';

function NumberInput(props: { label: string; value: number; testId: string; step?: number; onChange: (v: number) => void }) {
  const id = useId();
  return (
    <div className="field">
      <label htmlFor={id}>{props.label}</label>
      <input id={id} type="number" step={props.step ?? 1} value={props.value} data-testid={props.testId} onChange={(e) => props.onChange(Number(e.target.value))} />
    </div>
  );
}

function SearchLauncher() {
  const { form, set, runName, running, progress, status, connected } = useWorkbench(
    useShallow((s) => ({
      form: s.searchForm,
      set: s.setSearchForm,
      runName: s.activeRecord?.summary.name ?? s.runs.find((r) => r.id === s.activeRunId)?.name ?? null,
      running: s.searchId !== null && (s.searchSummary === null || s.searchSummary.status === 'running' || s.searchSummary.status === 'queued'),
      progress: s.searchProgress,
      status: s.searchSummary?.status ?? null,
      connected: s.connection === 'open',
    })),
  );
  const toggleObjective = (o: Objective) => {
    const has = form.objectives.includes(o);
    const next = has ? form.objectives.filter((x) => x !== o) : [...form.objectives, o];
    if (next.length >= 2 && next.length <= 3 && next.includes('accuracy'))
      set({ objectives: OBJECTIVES.filter((x) => next.includes(x)) as Objective[] });
  };
  const patch = <K extends keyof SearchForm>(k: K) => (v: SearchForm[K]) => set({ [k]: v } as Partial<SearchForm>);
  return (
    <section className="panel" aria-label="Start a search" data-testid="search-launcher">
      <h3>Search {runName ? <span className="muted">over the supernet of {runName}</span> : null}</h3>
      <SearchPicker />
      <fieldset className="field field-set">
        <legend>Objectives (2 or 3; accuracy is maximised, the rest minimised)</legend>
        {OBJECTIVES.map((o) => (
          <label key={o} className="inline">
            <input type="checkbox" checked={form.objectives.includes(o)} data-testid={`search-objective-${o}`} onChange={() => toggleObjective(o)} />
            {OBJECTIVE_LABEL[o]}
          </label>
        ))}
      </fieldset>
      <div className="field-grid">
        <div className="field">
          <label htmlFor="search-strategy">Strategy</label>
          <select id="search-strategy" value={form.strategy} data-testid="search-strategy" onChange={(e) => set({ strategy: e.target.value as SearchForm['strategy'] })}>
            {SEARCH_STRATEGY_NAMES.map((n) => (
              <option key={n} value={n} title={SEARCH_STRATEGIES[n].about}>
                {SEARCH_STRATEGIES[n].label}
              </option>
            ))}
          </select>
        </div>
        <NumberInput label="Population" value={form.population} testId="search-population" onChange={patch('population')} />
        <NumberInput label="Generations" value={form.generations} testId="search-generations" onChange={patch('generations')} />
        <NumberInput label="Eval samples" value={form.evalSamples} testId="search-eval-samples" onChange={patch('evalSamples')} />
        <NumberInput label="Latency budget ms (0 = none)" value={form.latencyBudget} step={0.1} testId="search-latency-budget" onChange={patch('latencyBudget')} />
      </div>
      <div className="row">
        <button type="button" className="primary" data-testid="search-start" disabled={!runName || running || !connected} onClick={() => void startSearch()}>
          Start search
        </button>
        <button type="button" data-testid="search-cancel" disabled={!running} onClick={() => void cancelSearch()}>
          Cancel
        </button>
        {!runName ? <span className="muted">open a supernet run first (Runs tab)</span> : null}
        <span className="toolbar-fill" />
        <SubnetsCsvButton />
      </div>
      {progress ? (
        <>
          <div className="progress" role="progressbar" aria-label="Search progress" aria-valuemin={0} aria-valuemax={progress.total} aria-valuenow={progress.done} data-testid="search-progress">
            <div className="progress-fill" style={{ width: `${((progress.done / Math.max(1, progress.total)) * 100).toFixed(1)}%` }} />
          </div>
          <div className="stats">
            <span>
              {progress.done} / {progress.total} evaluated
            </span>
            {running ? (
              <span>ETA {formatDuration(progress.etaSec)}</span>
            ) : (
              <span data-testid="search-status">{status === 'stopped' ? 'cancelled' : status}</span>
            )}
          </div>
        </>
      ) : null}
    </section>
  );
}

/** The latency table's own check: error on timed subnets it was not fitted to (LatencyTable.ts). */
function LatencyModelLine({ model }: { model: NonNullable<SearchSummary['latencyModel']> }) {
  const num = (v: number | null, d: number) => (v === null ? 'n/a' : v.toFixed(d));
  return (
    <p className={model.passed ? 'muted' : 'warn'} data-testid="latency-model">
      latency model ({model.fromCache ? 'stored table' : 'fitted for this search'}): held-out MAPE {num(model.mapePct, 1)}%, Kendall τ {num(model.tau, 2)}, n = {model.n}{' '}
      (fitted on {model.fitN}) — {model.passed ? 'passes' : 'fails'} its check (≤ {model.maxMapePct}%, τ ≥ {model.minTau})
      {model.passed ? '' : '; not stored for reuse'}
    </p>
  );
}

/** Which of the run's searches is shown (newest first; the newest is shown when a run is opened). */
function SearchPicker() {
  const { searches, current } = useWorkbench(useShallow((s) => ({ searches: s.runSearches, current: s.searchId })));
  if (searches.length < 2) return null;
  return (
    <div className="field">
      <label htmlFor="search-picker">Showing search</label>
      <select id="search-picker" data-testid="search-picker" value={current ?? ''} onChange={(e) => pickSearch(e.target.value)}>
        {searches.map((x, i) => (
          <option key={x.id} value={x.id}>
            {i === 0 ? 'newest · ' : ''}
            {x.config.strategy} · {x.status === 'stopped' ? 'cancelled' : x.status} · {x.evaluated.length} evaluated · {x.id}
          </option>
        ))}
      </select>
    </div>
  );
}

/** The search's evaluated subnets as CSV (every objective, interval, front membership, architecture). */
function SubnetsCsvButton() {
  const { count, id } = useWorkbench(useShallow((s) => ({ count: s.evaluated.length, id: s.searchId })));
  if (!count) return null;
  const save = () => {
    const s = useWorkbench.getState();
    saveText(`${id ?? 'search'}-subnets.csv`, subnetsCsv(s.evaluated, s.searchSummary?.front ?? []));
  };
  return (
    <button type="button" data-testid="search-download-csv" title="Every evaluated subnet as CSV" onClick={save}>
      Subnets CSV ({count})
    </button>
  );
}

/** The selected subnet's picks highlighted on the run's space graph. */
function SubnetOnGraph({ arch }: { arch: EvaluatedSubnet['arch'] }) {
  const space = useWorkbench((s) => (s.activeRecord && s.activeRecord.summary.id === (s.searchSummary?.runId ?? s.activeRunId) ? s.activeRecord.config.space : null));
  if (!space) return null;
  return (
    <details className="subnet-graph" data-testid="subnet-graph">
      <summary>On the space graph</summary>
      <SpaceGraphView space={space} arch={arch} testId="subnet-space-graph" />
    </details>
  );
}

/** The export as a zip through the server (a browser on another machine cannot open the server's paths). */
function ExportDownload({ runId, dir }: { runId: string | null; dir: string }) {
  const href = runId ? exportZipUrl(runId, dir) : null;
  if (!href) return null;
  return (
    <p>
      <a className="button primary" href={href} download data-testid="export-download">
        Download .zip
      </a>
    </p>
  );
}

function Hypervolume() {
  const hv = useWorkbench((s) => s.searchSummary?.hypervolume);
  const lut = useWorkbench((s) => s.searchSummary?.lutErrorPct);
  const lutTau = useWorkbench((s) => s.searchSummary?.lutTau);
  const model = useWorkbench((s) => s.searchSummary?.latencyModel);
  const warnings = useWorkbench((s) => s.searchSummary?.warnings);
  if (!hv?.length) return null;
  return (
    <div className="panel">
      <LineChart
        title="Hypervolume"
        xLabel="generation"
        series={[{ label: 'hypervolume', color: 'var(--series-1)', points: hv.map((h) => [h.generation, h.value] as [number, number]) }]}
        height={150}
        testId="hypervolume-chart"
      />
      {model ? <LatencyModelLine model={model} /> : null}
      {lut !== undefined ? (
        <p className="muted">
          latency table on this search&apos;s subnets: error {fmt(lut)}%{lutTau !== undefined ? `, τ ${lutTau.toFixed(2)}` : ''}
        </p>
      ) : null}
      {warnings?.map((w) => (
        <p key={w} className="error-text" data-testid="search-warning">
          {w}
        </p>
      ))}
    </div>
  );
}

function SelectedSubnet() {
  const { sub, exportResult, exporting, runId } = useWorkbench(
    useShallow((s) => ({
      sub: s.evaluated.find((e) => e.id === s.selectedSubnet) ?? null,
      exportResult: s.exportResult,
      exporting: s.exporting,
      runId: s.searchSummary?.runId ?? s.activeRunId,
    })),
  );
  if (!sub) return <p className="muted">Click a point on the front to select a subnet.</p>;
  return (
    <section className="panel" aria-label="Selected subnet" data-testid="selected-subnet">
      <h3>Subnet {sub.id}</h3>
      <dl className="kv">
        <dt>accuracy</dt>
        <dd data-testid="selected-accuracy">{accuracyText(sub)}</dd>
        <dt>latency</dt>
        <dd>
          {fmt(sub.latencyMs)} ms{sub.latencyLutMs !== undefined ? ` (LUT ${fmt(sub.latencyLutMs)})` : ''}
        </dd>
        <dt>params</dt>
        <dd>{fmt(sub.params)}</dd>
        <dt>FLOPs</dt>
        <dd>{fmt(sub.flops)}</dd>
        <dt>generation</dt>
        <dd>{sub.generation}</dd>
        <dt>feasible</dt>
        <dd>{sub.feasible ? 'yes' : 'no'}</dd>
      </dl>
      <code className="arch">{describeArch(sub)}</code>
      <SubnetOnGraph arch={sub.arch} />
      <div className="row">
        <button type="button" className="primary" data-testid="export-subnet" disabled={exporting} onClick={() => void exportSelected()}>
          {exporting ? 'Exporting…' : 'Export'}
        </button>
      </div>
      {exportResult ? (
        <div className="export-result" data-testid="export-result">
          <p>
            Written to <code>{exportResult.dir}</code>
            {exportResult.maxAbsDiff !== undefined ? ` · max |Δ| vs supernet ${exportResult.maxAbsDiff.toExponential(2)}` : ''}
          </p>
          <ExportDownload runId={runId} dir={exportResult.dir} />
          {exportResult.accuracy?.length ? (
            <ul data-testid="export-accuracy">
              {exportResult.accuracy.map((a) => (
                <li key={a.split}>
                  {a.split === 'test' ? 'test (final report)' : 'validation'}: {formatAccuracy(a)}
                </li>
              ))}
            </ul>
          ) : null}
          <ul>
            {exportResult.files.map((f) => (
              <li key={f} data-testid="export-file">
                <code>{f}</code>
              </li>
            ))}
          </ul>
        </div>
      ) : null}
    </section>
  );
}

export function SearchView() {
  return (
    <div className="view search-view" data-testid="view-search">
      <div className="search-side">
        <SearchLauncher />
        <Hypervolume />
        <SelectedSubnet />
        <CompressPanel />
        <RankPanel />
      </div>
      <div className="search-main">
        <ParetoPlot />
        <ParallelCoords />
        <SearchComparison />
      </div>
    </div>
  );
}
