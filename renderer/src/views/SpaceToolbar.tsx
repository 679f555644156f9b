import { useShallow } from 'zustand/react/shallow';
import { formatCount } from '../charts/scales.js';
import { newSpace, type SpaceDoc } from '../space/spaceEdits.js';
import { openSpaceFile, saveSpaceFile } from '../space/spaceFiles.js';
import { errorText } from '../store/coreActions.js';
import { useWorkbench } from '../store/store.js';

export function SpaceToolbar() {
  const { examples, canUndo, canRedo, loadSpace, undoSpace, redoSpace, notify } = useWorkbench(
    useShallow((s) => ({
      examples: s.examples,
      canUndo: s.history.past.length > 0,
      canRedo: s.history.future.length > 0,
      loadSpace: s.loadSpace,
      undoSpace: s.undoSpace,
      redoSpace: s.redoSpace,
      notify: s.notify,
    })),
  );
  return (
    <div className="toolbar" role="toolbar" aria-label="Search space">
      <label className="inline">
        <span className="sr-only">Example space</span>
        <select
          data-testid="space-example"
          aria-label="Load an example space"
          value=""
          onChange={(e) => {
            const ex = examples.find((x) => x.id === e.target.value);
            if (ex) loadSpace(structuredClone(ex.space) as SpaceDoc);
          }}
        >
          <option value="">Examples…</option>
          {examples.map((x) => (
            <option key={x.id} value={x.id}>
              {x.title}
            </option>
          ))}
        </select>
      </label>
      <button type="button" data-testid="space-new" onClick={() => loadSpace(newSpace())}>
        New
      </button>
      <button
        type="button"
        data-testid="space-open"
        onClick={() =>
          openSpaceFile().then(
            (f) => {
              if (f) {
                loadSpace(f.doc);
                notify('info', `opened ${f.name}`);
              }
            },
            (e) => notify('error', `open: ${errorText(e)}`),
          )
        }
      >
        Open…
      </button>
      <button
        type="button"
        data-testid="space-save"
        onClick={() =>
          saveSpaceFile(useWorkbench.getState().history.present).then(
            (name) => name && notify('info', `saved ${name}`),
            (e) => notify('error', `save: ${errorText(e)}`),
          )
        }
      >
        Save
      </button>
      <span className="toolbar-sep" />
      <button type="button" data-testid="space-undo" disabled={!canUndo} onClick={undoSpace} title="Undo (Ctrl+Z)">
        Undo
      </button>
      <button type="button" data-testid="space-redo" disabled={!canRedo} onClick={redoSpace} title="Redo (Ctrl+Shift+Z)">
        Redo
      </button>
      <span className="toolbar-fill" />
      <ValidityBadge />
    </div>
  );
}

function ValidityBadge() {
  const v = useWorkbench(useShallow((s) => ({ v: s.validation, current: s.validation?.revision === s.revision })));
  if (!v.v) return <span className="badge" data-testid="space-validity">checking…</span>;
  const { ok, issues, cardinality, params } = v.v;
  return (
    <span className="badge-group" aria-live="polite">
      <span className={`badge ${ok ? 'badge-ok' : 'badge-bad'}${v.current ? '' : ' badge-stale'}`} data-testid="space-validity" data-ok={ok}>
        {ok ? 'valid' : `${issues.length} issue${issues.length === 1 ? '' : 's'}`}
      </span>
      <span className="badge" data-testid="space-cardinality" title="Number of distinct subnets in this space">
        {cardinality === null ? '—' : formatCount(cardinality)} subnets
      </span>
      <span className="badge" data-testid="space-params" title="Parameters of the largest subnet">
        {params === null ? '—' : formatCount(params)} params
      </span>
    </span>
  );
}
