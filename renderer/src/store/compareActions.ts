/** The run table's side effects: rename, tag, delete, the overlay's histories, "open in editor". */
import type { MetricPoint } from '../../../core/protocol/protocol.js';
import type { SpaceDoc } from '../space/spaceEdits.js';
import { core, errorText } from './coreActions.js';
import { useWorkbench } from './store.js';

const store = () => useWorkbench.getState();

/** Points per overlaid run: long histories are strided to about this many (the chart draws ~800). */
const OVERLAY_POINTS = 4000;

function fail(what: string) {
  return (e: unknown) => store().notify('error', `${what}: ${errorText(e)}`);
}

export async function renameRun(runId: string, name: string) {
  const n = name.trim();
  if (!n) return;
  await core().call('runs.update', { runId, name: n }).then((s) => store().upsertRun(s), fail('rename'));
}

export async function tagRun(runId: string, tags: string[]) {
  await core().call('runs.update', { runId, tags }).then((s) => store().upsertRun(s), fail('tags'));
}

export async function deleteRun(runId: string) {
  await core().call('runs.delete', { runId }).then(() => store().removeRun(runId), fail('delete'));
}

/** A run's history for the overlay: one strided pass (the first page tells how long it is). */
async function loadCurve(runId: string): Promise<MetricPoint[]> {
  const first = await core().call('runs.get', { runId, limit: OVERLAY_POINTS });
  if (first.nextOffset === null) return first.metrics;
  // every stride-th line: the whole history in about OVERLAY_POINTS points, one page
  const stride = Math.ceil(first.total / OVERLAY_POINTS);
  return (await core().call('runs.get', { runId, stride, limit: OVERLAY_POINTS })).metrics;
}

/** Tick or untick a run for the overlay; a ticked run's history is fetched once. */
export async function toggleCompare(runId: string, on?: boolean) {
  store().toggleCompare(runId, on);
  if (!store().compareIds.includes(runId) || store().compareCurves[runId]) return;
  try {
    const points = await loadCurve(runId);
    if (store().compareIds.includes(runId)) store().setCompareCurve(runId, points);
  } catch (e) {
    fail('runs.get')(e);
  }
}

/** Load the run's search space into the editor (undoable, like opening a file). */
export async function openRunSpace(runId: string) {
  try {
    const got = await core().call('runs.get', { runId, limit: 1 });
    store().loadSpace(structuredClone(got.record.config.space) as SpaceDoc);
    store().setView('space');
  } catch (e) {
    fail('open in editor')(e);
  }
}
