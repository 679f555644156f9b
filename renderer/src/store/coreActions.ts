/**
 * The store's side effects against the core: every one goes through the CoreClient, so the renderer
 * works unchanged over Electron IPC or the WebSocket of `switchyard serve`.
 */
import type { RunEvent, SearchEvent, TrainConfigInput } from '../../../core/protocol/protocol.js';
import { CoreClient, CoreError } from '../transport/CoreClient.js';
import { mergeMetrics } from './liveSlice.js';
import { useWorkbench } from './store.js';

let client: CoreClient | null = null;

export function core(): CoreClient {
  if (!client) throw new Error('the core is not connected yet');
  return client;
}

const store = () => useWorkbench.getState();

export function errorText(e: unknown): string {
  if (e instanceof CoreError) return e.issues.length ? `${e.message}` : e.message;
  return e instanceof Error ? e.message : String(e);
}

function report(what: string) {
  return (e: unknown) => {
    if (e instanceof CoreError && e.code === 'cancelled') return;
    store().notify('error', `${what}: ${errorText(e)}`);
  };
}

/** Wire a client to the store: status, first data, event streams and live validation. */
export function connectCore(c: CoreClient): () => void {
  client = c;
  const offs: Array<() => void> = [];
  offs.push(
    c.transport.onStatus((s) => {
      store().setConnection(s);
      if (s === 'open') void refreshAll();
    }),
  );
  offs.push(c.listen('onRunEvent', {}, onRunEvent));
  offs.push(c.listen('onSearchEvent', {}, onSearchEvent));
  offs.push(watchValidation());
  return () => {
    for (const off of offs) off();
    client = null;
  };
}

async function refreshAll() {
  try {
    store().setHello(await core().call('host.hello', {}));
  } catch (e) {
    report('hello')(e);
    return;
  }
  core().call('space.examples', {}).then((ex) => store().setExamples(ex), report('examples'));
  void refreshRuns();
  void validateNow();
  // After a reconnect the stream may have moved on without us: reload the run on screen.
  const shown = store().activeRunId;
  if (shown) void openRun(shown);
}

export async function refreshRuns() {
  try {
    store().setRuns(await core().call('runs.list', {}));
  } catch (e) {
    report('runs.list')(e);
  }
}

function onRunEvent(e: RunEvent) {
  const s = store();
  switch (e.kind) {
    case 'status':
      s.upsertRun(e.summary);
      break;
    case 'metrics': {
      s.appendMetrics(e.runId, e.points);
      s.appendCompareMetrics(e.runId, e.points);
      // Status events come only on changes; keep the run list's step current from the stream.
      const last = e.points.at(-1);
      const run = s.runs.find((r) => r.id === e.runId);
      if (last && run && last.step > run.step) s.upsertRun({ ...run, step: last.step, lastLoss: last.loss, lastAccuracy: last.accuracy });
      break;
    }
    case 'specialization':
      s.setSpecialization(e.runId, e.data);
      break;
    case 'removed':
      s.removeRun(e.runId);
      break;
    case 'log':
      s.appendLog(e.runId, { level: e.level, message: e.message });
      if (e.level === 'error' && e.runId === s.liveRunId) s.notify('error', e.message);
      break;
  }
}

// ---------------------------------------------------------------------------------------------------
// Space validation: each edit asks the core again (debounced); an older answer never overwrites a newer one.

let validateTimer: ReturnType<typeof setTimeout> | null = null;
let validateAbort: AbortController | null = null;

function watchValidation(): () => void {
  const off = useWorkbench.subscribe((s, prev) => {
    if (s.revision === prev.revision) return;
    if (validateTimer) clearTimeout(validateTimer);
    validateTimer = setTimeout(() => void validateNow(), 150);
  });
  return () => {
    off();
    if (validateTimer) clearTimeout(validateTimer);
  };
}

export async function validateNow() {
  if (!client) return;
  validateAbort?.abort();
  const ac = new AbortController();
  validateAbort = ac;
  const { revision, history } = store();
  try {
    const v = await core().call('space.validate', { space: history.present }, { signal: ac.signal });
    if (store().revision === revision) store().setValidation(v, revision);
  } catch (e) {
    report('validate')(e);
  }
}

// ---------------------------------------------------------------------------------------------------
// Runs.

/** Show a run: its record and full history from the core, then its live stream. */
export async function openRun(runId: string) {
  const s = store();
  s.resetLive(runId, [], null);
  s.setActiveRun(runId, s.activeRecord?.summary.id === runId ? s.activeRecord : null);
  try {
    const got = await core().call('runs.get', { runId });
    if (store().liveRunId !== runId) return;
    // The history comes in pages (one message for a long history would stall every client): fetch on.
    const history = got.metrics;
    for (let next = got.nextOffset; next !== null; ) {
      const page = await core().call('runs.get', { runId, offset: next });
      if (store().liveRunId !== runId) return;
      for (const p of page.metrics) history.push(p);
      next = page.nextOffset;
    }
    // Points that streamed in while runs.get was on its way are newer than its history.
    const merged = mergeMetrics(history, store().metrics.filter((p) => p.step > (history.at(-1)?.step ?? -1)));
    store().resetLive(runId, merged, store().specialization ?? got.specialization);
    store().setActiveRun(runId, got.record);
    store().upsertRun(got.record.summary);
  } catch (e) {
    report('runs.get')(e);
  }
  void loadSearches(runId);
}

export function trainConfig(): TrainConfigInput {
  const { launch, history, hello } = store();
  const available = hello?.backend?.available as readonly string[] | undefined;
  return {
    ...(launch.name.trim() ? { name: launch.name.trim() } : {}),
    space: history.present as TrainConfigInput['space'],
    data: launch.data as TrainConfigInput['data'],
    strategy: launch.strategy,
    steps: launch.steps,
    batchSize: launch.batchSize,
    learningRate: launch.learningRate,
    backend: launch.backend === 'auto' || !available || available.includes(launch.backend) ? launch.backend : 'auto',
    evalEvery: launch.evalEvery,
  };
}

export async function startRun(): Promise<string | null> {
  try {
    const { runId } = await core().call('train.start', trainConfig());
    store().setView('runs');
    await openRun(runId);
    void refreshRuns();
    return runId;
  } catch (e) {
    report('train.start')(e);
    return null;
  }
}

export async function stopRun(runId: string) {
  try {
    await core().call('train.stop', { runId });
  } catch (e) {
    report('train.stop')(e);
  }
}

export async function resumeRun(runId: string) {
  try {
    const r = await core().call('train.resume', { runId });
    await openRun(r.runId);
  } catch (e) {
    report('train.resume')(e);
  }
}

// ---------------------------------------------------------------------------------------------------
// Search and export. Events can beat `search.start`'s answer, so they wait in a buffer until the id is known.

let awaitingSearch = false;
const earlySearchEvents: SearchEvent[] = [];

function onSearchEvent(e: SearchEvent) {
  const s = store();
  if (s.searchId !== e.searchId) {
    if (awaitingSearch) earlySearchEvents.push(e);
    return;
  }
  applySearchEvent(e);
}

function applySearchEvent(e: SearchEvent) {
  const s = store();
  if (e.kind === 'progress') s.setSearchProgress({ done: e.done, total: e.total, etaSec: e.etaSec });
  else if (e.kind === 'evaluated') s.addEvaluated(e.subnets);
  else {
    s.setSearchSummary(e.summary);
    if (e.summary.status === 'failed' && e.summary.error) s.notify('error', `search failed: ${e.summary.error}`);
  }
}

async function loadSearches(runId: string) {
  try {
    const list = await core().call('search.list', { runId });
    if (store().liveRunId === runId) store().setRunSearches(list);
    // search.list is newest first: reopening a run shows its latest search.
    const newest = list[0];
    if (!newest || store().liveRunId !== runId || awaitingSearch) return;
    if (store().searchId === newest.id) return;
    store().beginSearch(newest.id);
    store().setSearchSummary(newest);
  } catch {
    // a core without search support still shows runs
  }
}

/** Show another of the run's searches (the picker); its events apply from now on. */
export function pickSearch(searchId: string) {
  const s = store();
  const found = s.runSearches.find((x) => x.id === searchId);
  if (!found || s.searchId === searchId) return;
  s.beginSearch(searchId);
  s.setSearchSummary(found);
}

export async function startSearch(): Promise<string | null> {
  const s = store();
  const runId = s.activeRunId;
  if (!runId) {
    s.notify('error', 'open a trained run first: search evaluates its supernet');
    return null;
  }
  const f = s.searchForm;
  awaitingSearch = true;
  earlySearchEvents.length = 0;
  try {
    const { searchId } = await core().call('search.start', {
      runId,
      strategy: f.strategy,
      objectives: f.objectives,
      population: f.population,
      generations: f.generations,
      evalSamples: f.evalSamples,
      constraints: f.latencyBudget > 0 ? [{ objective: 'latency', max: f.latencyBudget }] : [],
    });
    store().beginSearch(searchId);
    for (const e of earlySearchEvents.splice(0)) if (e.searchId === searchId) applySearchEvent(e);
    return searchId;
  } catch (e) {
    report('search.start')(e);
    return null;
  } finally {
    awaitingSearch = false;
  }
}

export async function cancelSearch() {
  const id = store().searchId;
  if (!id) return;
  try {
    await core().call('search.cancel', { searchId: id });
  } catch (e) {
    report('search.cancel')(e);
  }
}

export async function exportSelected() {
  const s = store();
  const sub = s.evaluated.find((e) => e.id === s.selectedSubnet);
  const runId = s.searchSummary?.runId ?? s.activeRunId;
  if (!sub || !runId) return;
  s.setExport(null, true);
  try {
    const r = await core().call('export.subnet', { runId, arch: sub.arch });
    store().setExport(r, false);
  } catch (e) {
    store().setExport(null, false);
    report('export')(e);
  }
}
