import { useShallow } from 'zustand/react/shallow';
import { addStage, duplicateStage, moveStage, removeStage, stageSummary, type BlockType } from '../space/spaceEdits.js';
import { useWorkbench } from '../store/store.js';

/** Stage i has issues anywhere below `stages[i]`. */
function useStageIssueCounts(): number[] {
  return useWorkbench(
    useShallow((s) => {
      const n = s.history.present.stages.length;
      const counts = new Array<number>(n).fill(0);
      const v = s.validation;
      if (v && v.revision === s.revision)
        for (const i of v.issues) {
          const m = /^stages\[(\d+)\]/.exec(i.path);
          if (m && Number(m[1]) < n) counts[Number(m[1])]!++;
        }
      return counts;
    }),
  );
}

/** The network as a vertical stack: input, one card per stage, output. */
export function StageStack() {
  const { stages, input, numClasses, selected, select, edit } = useWorkbench(
    useShallow((s) => ({
      stages: s.history.present.stages,
      input: s.history.present.input,
      numClasses: s.history.present.numClasses,
      selected: s.selectedStage,
      select: s.selectStage,
      edit: s.editSpace,
    })),
  );
  const issueCounts = useStageIssueCounts();

  const add = (type: BlockType) => {
    edit((d) => addStage(d, type, selected));
    select(Math.min(selected + 1, stages.length));
  };
  const move = (i: number, delta: number) => {
    const to = Math.max(0, Math.min(stages.length - 1, i + delta));
    edit((d) => moveStage(d, i, delta));
    select(to);
    requestAnimationFrame(() => document.querySelector<HTMLElement>(`[data-testid="stage-${to}"]`)?.focus());
  };
  const remove = (i: number) => {
    edit((d) => removeStage(d, i));
    select(Math.max(0, i - 1));
  };
  const duplicate = (i: number) => {
    edit((d) => duplicateStage(d, i));
    select(i + 1);
  };
  const focusStage = (i: number) => {
    select(i);
    requestAnimationFrame(() => document.querySelector<HTMLElement>(`[data-testid="stage-${i}"]`)?.focus());
  };

  const inputText =
    input && input.kind === 'image' ? `image ${input.height}×${input.width}×${input.channels}` : `vector (${input?.kind === 'vector' ? input.dim : '?'})`;

  return (
    <section className="stage-stack" aria-label="Network stages">
      <div className="stack-end">input · {inputText}</div>
      <ol className="stage-list" data-testid="stage-list">
        {stages.map((st, i) => (
          <li key={`${i}-${st.id}`}>
            <div
              className={`stage-card stage-${st.block?.type}${i === selected ? ' selected' : ''}${issueCounts[i] ? ' has-issues' : ''}`}
              role="button"
              tabIndex={0}
              aria-pressed={i === selected}
              aria-label={`Stage ${i + 1}: ${st.id}, ${stageSummary(st)}. Alt+arrows move, Delete removes, Ctrl+D duplicates.`}
              data-testid={`stage-${i}`}
              onClick={() => select(i)}
              onKeyDown={(e) => {
                if (e.key === 'ArrowUp' && e.altKey) move(i, -1);
                else if (e.key === 'ArrowDown' && e.altKey) move(i, 1);
                else if (e.key === 'ArrowUp') focusStage(Math.max(0, i - 1));
                else if (e.key === 'ArrowDown') focusStage(Math.min(stages.length - 1, i + 1));
                else if (e.key === 'Delete' && stages.length > 1) remove(i);
                else if (e.key === 'd' && (e.ctrlKey || e.metaKey)) duplicate(i);
                else if (e.key === 'Enter' || e.key === ' ') select(i);
                else return;
                e.preventDefault();
              }}
            >
              <span className={`block-chip chip-${st.block?.type}`}>{st.block?.type}</span>
              <span className="stage-id">{st.id}</span>
              <span className="stage-summary">{stageSummary(st)}</span>
              {issueCounts[i] ? (
                <span className="badge badge-bad" data-testid={`stage-${i}-issues`}>
                  {issueCounts[i]}
                </span>
              ) : null}
            </div>
            <div className="stage-actions">
              <button type="button" aria-label={`Move ${st.id} up`} data-testid={`stage-${i}-up`} disabled={i === 0} onClick={() => move(i, -1)}>
                ↑
              </button>
              <button
                type="button"
                aria-label={`Move ${st.id} down`}
                data-testid={`stage-${i}-down`}
                disabled={i === stages.length - 1}
                onClick={() => move(i, 1)}
              >
                ↓
              </button>
              <button type="button" aria-label={`Duplicate ${st.id}`} data-testid={`stage-${i}-duplicate`} onClick={() => duplicate(i)}>
                Dup
              </button>
              <button
                type="button"
                aria-label={`Remove ${st.id}`}
                data-testid={`stage-${i}-remove`}
                disabled={stages.length <= 1}
                onClick={() => remove(i)}
              >
                ✕
              </button>
            </div>
          </li>
        ))}
      </ol>
      <div className="stack-end">output · {numClasses} classes</div>
      <div className="add-row" role="group" aria-label="Add a stage after the selected one">
        <button type="button" data-testid="add-stage-dense" onClick={() => add('dense')}>
          + Dense
        </button>
        <button type="button" data-testid="add-stage-conv" onClick={() => add('conv')}>
          + Conv
        </button>
        <button type="button" data-testid="add-stage-moe" onClick={() => add('moe')}>
          + MoE
        </button>
      </div>
    </section>
  );
}
