import { describe, expect, it } from 'vitest';
import type { MetricPoint, RunSummary, SearchSummary } from '../../../core/protocol/protocol.js';
import { addStage, setIn } from '../space/spaceEdits.js';
import { MAX_POINTS, mergeMetrics } from './liveSlice.js';
import { mergeEvaluated } from './searchSlice.js';
import { createWorkbenchStore } from './store.js';

const pt = (step: number): MetricPoint => ({ step, time: step, loss: 1, accuracy: 0, stepMs: 1, samplesPerSec: 1, etaSec: 0 });

describe('space slice', () => {
  it('edits, coalesces one field, seals on blur, undoes and redoes, keeping the selection in range', () => {
    const store = createWorkbenchStore();
    const s = () => store.getState();
    s().editSpace((d) => addStage(d, 'moe'));
    s().selectStage(1);
    const k = ['stages', 1, 'block', 'routing', 'k'];
    s().editSpace((d) => setIn(d, k, 0), 'k');
    s().editSpace((d) => setIn(d, k, 3), 'k');
    expect(s().history.past.length).toBe(2);
    s().sealEdit();
    s().editSpace((d) => setIn(d, k, 4), 'k');
    expect(s().history.past.length).toBe(3);
    s().undoSpace();
    expect((s().history.present.stages[1]!.block as { routing: { k: number } }).routing.k).toBe(3);
    s().undoSpace();
    s().undoSpace();
    expect(s().history.present.stages.length).toBe(1);
    expect(s().selectedStage).toBe(0);
    s().redoSpace();
    expect(s().history.present.stages.length).toBe(2);
    const rev = s().revision;
    s().undoSpace();
    expect(s().revision).toBe(rev + 1);
  });

  it('keeps validation issues with the revision they judged, paths normalised', () => {
    const store = createWorkbenchStore();
    store.getState().setValidation({ ok: false, issues: [{ path: 'space.stages[0].depth', message: 'x' }], cardinality: null, params: null }, 7);
    expect(store.getState().validation).toMatchObject({ revision: 7, issues: [{ path: 'stages[0].depth' }] });
  });
});

describe('live metrics', () => {
  it('appends batches, replaces points re-sent after a resume, and thins long histories', () => {
    const a = mergeMetrics([], [pt(1), pt(2), pt(3)]);
    expect(a.map((p) => p.step)).toEqual([1, 2, 3]);
    const b = mergeMetrics(a, [pt(2), pt(3), pt(4)]);
    expect(b.map((p) => p.step)).toEqual([1, 2, 3, 4]);
    expect(mergeMetrics(b, [])).toBe(b);
    const long = mergeMetrics(Array.from({ length: MAX_POINTS }, (_, i) => pt(i)), [pt(MAX_POINTS)]);
    expect(long.length).toBeLessThan(MAX_POINTS);
    expect(long.at(-1)!.step).toBe(MAX_POINTS);
    expect(long.slice(-100).map((p) => p.step)).toEqual(Array.from({ length: 100 }, (_, i) => MAX_POINTS - 99 + i));
  });

  it('ignores metrics of runs other than the one shown', () => {
    const store = createWorkbenchStore();
    store.getState().resetLive('r1', [], null);
    store.getState().appendMetrics('r2', [pt(1)]);
    store.getState().appendMetrics('r1', [pt(1), pt(2)]);
    expect(store.getState().metrics.length).toBe(2);
  });
});

describe('runs and search', () => {
  const summary = (id: string, createdAt: string): RunSummary => ({
    id, name: id, createdAt, status: 'running', strategy: 'spos', step: 0, steps: 10, backend: 'cpu', device: 'cpu',
    spaceName: 's', dataKind: 'spirals', lastLoss: null, lastAccuracy: null, bestValAccuracy: null,
  });
  it('lists runs newest first and updates one in place', () => {
    const store = createWorkbenchStore();
    store.getState().setRuns([summary('a', '2026-01-01'), summary('b', '2026-02-01')]);
    store.getState().upsertRun({ ...summary('a', '2026-01-01'), status: 'completed' });
    store.getState().upsertRun(summary('c', '2026-03-01'));
    expect(store.getState().runs.map((r) => `${r.id}:${r.status}`)).toEqual(['c:running', 'b:running', 'a:completed']);
  });
  it('merges evaluated subnets by id', () => {
    const sub = (id: number, accuracy: number) => ({ id, arch: { stages: [] }, vector: [], accuracy, latencyMs: 1, params: 1, flops: 1, generation: 0, feasible: true });
    expect(mergeEvaluated([sub(2, 0.1), sub(1, 0.2)], [sub(2, 0.9), sub(3, 0.3)]).map((s) => [s.id, s.accuracy])).toEqual([
      [1, 0.2],
      [2, 0.9],
      [3, 0.3],
    ]);
  });
  it("keeps every search of the active run for comparison, updating the live one in place", () => {
    const store = createWorkbenchStore();
    const search = (id: string, runId: string, status: SearchSummary['status']): SearchSummary => ({
      id, runId, status, evaluated: [], front: [], hypervolume: [],
      config: { runId, strategy: 'nsga2', objectives: ['accuracy', 'latency'], population: 4, generations: 1, constraints: [], evalSamples: 64, seed: 1 },
    });
    store.getState().setRunSearches([search('s2', 'r', 'completed'), search('s1', 'r', 'completed')]);
    store.getState().setSearchSummary(search('s3', 'r', 'running'));
    store.getState().setSearchSummary(search('s3', 'r', 'completed'));
    expect(store.getState().runSearches.map((s) => `${s.id}:${s.status}`)).toEqual(['s3:completed', 's2:completed', 's1:completed']);
    // A search of another run starts a new list.
    store.getState().setSearchSummary(search('t1', 'other', 'running'));
    expect(store.getState().runSearches.map((s) => s.id)).toEqual(['t1']);
  });
});
