import { useId } from 'react';
import { useShallow } from 'zustand/react/shallow';
import type { BackendChoice, Strategy } from '../../../core/protocol/protocol.js';
import { TRAINING_STRATEGIES, TRAINING_STRATEGY_NAMES } from '../../../core/protocol/strategyNames.js';
import { startRun } from '../store/coreActions.js';
import { DEFAULT_DATASETS, type DatasetForm, type LaunchForm } from '../store/runsSlice.js';
import { useWorkbench } from '../store/store.js';

const STRATEGIES: readonly Strategy[] = TRAINING_STRATEGY_NAMES;
const BACKENDS: readonly BackendChoice[] = ['auto', 'webgpu', 'tensorflow', 'wasm', 'cpu'];

function Num(props: { label: string; value: number; step?: number; min?: number; testId: string; onChange: (v: number) => void }) {
  const id = useId();
  return (
    <div className="field">
      <label htmlFor={id}>{props.label}</label>
      <input
        id={id}
        type="number"
        value={Number.isFinite(props.value) ? props.value : ''}
        step={props.step ?? 1}
        min={props.min}
        data-testid={props.testId}
        onChange={(e) => props.onChange(e.target.value === '' ? NaN : Number(e.target.value))}
      />
    </div>
  );
}

function Pick<T extends string>(props: { label: string; value: T; options: readonly T[]; testId: string; onChange: (v: T) => void; help?: (v: T) => string }) {
  const id = useId();
  return (
    <div className="field">
      <label htmlFor={id}>{props.label}</label>
      <select id={id} value={props.value} data-testid={props.testId} onChange={(e) => props.onChange(e.target.value as T)}>
        {props.options.map((o) => (
          <option key={o} value={o} title={props.help?.(o)}>
            {o}
          </option>
        ))}
      </select>
      {props.help ? (
        <span className="muted" data-testid={`${props.testId}-help`}>
          {props.help(props.value)}
        </span>
      ) : null}
    </div>
  );
}

/** Whether the space's input and classes fit the dataset (synthetic sets are 2-D points). */
function dataMismatch(data: DatasetForm, input: unknown, numClasses: unknown): string | null {
  // Token workloads: the vocabulary is known once the core reads the corpus; it checks the fit then.
  if (data.kind === 'text' || data.kind === 'sequence-tasks') return null;
  if (data.kind === 'fashion-mnist') {
    const want = data.flatten ? 'vector of 784' : 'image 28×28×1';
    const inp = input as { kind?: string; dim?: number; height?: number };
    const ok = data.flatten ? inp?.kind === 'vector' && inp.dim === 784 : inp?.kind === 'image' && inp.height === 28;
    if (!ok) return `Fashion-MNIST needs input ${want}`;
    if (numClasses !== 10) return 'Fashion-MNIST has 10 classes';
    return null;
  }
  const inp = input as { kind?: string; dim?: number };
  if (inp?.kind !== 'vector' || inp.dim !== 2) return `${data.kind} points are 2-D: set the space's input to vector (2)`;
  if (numClasses !== data.classes) return `the space has ${String(numClasses)} classes, the data ${String(data.classes)}`;
  return null;
}

export function RunLauncher() {
  const { launch, setLaunch, valid, input, numClasses, edit, connected, available } = useWorkbench(
    useShallow((s) => ({
      launch: s.launch,
      setLaunch: s.setLaunch,
      valid: s.validation?.ok === true && s.validation.revision === s.revision,
      input: s.history.present.input,
      numClasses: s.history.present.numClasses,
      edit: s.editSpace,
      connected: s.connection === 'open',
      available: s.hello?.backend?.available,
    })),
  );
  // Only what the server can load: a backend missing there fails with "Cannot find package".
  const backends = available ? BACKENDS.filter((b) => b === 'auto' || (available as readonly string[]).includes(b)) : BACKENDS;
  const d = launch.data;
  const setData = (patch: Record<string, string | number | boolean>) => setLaunch({ data: { ...d, ...patch } as DatasetForm });
  const set = <K extends keyof LaunchForm>(k: K) => (v: LaunchForm[K]) => setLaunch({ [k]: v } as Partial<LaunchForm>);
  const mismatch = dataMismatch(d, input, numClasses);
  const fit = () =>
    edit((doc) => {
      if (d.kind === 'fashion-mnist')
        return { ...doc, input: d.flatten ? { kind: 'vector', dim: 784 } : { kind: 'image', height: 28, width: 28, channels: 1 }, numClasses: 10 };
      return { ...doc, input: { kind: 'vector', dim: 2 }, numClasses: Number(d.classes) };
    });
  return (
    <section className="panel launcher" aria-label="Start a training run" data-testid="run-launcher">
      <h3>New run</h3>
      <div className="field-grid">
        <div className="field field-wide">
          <label htmlFor="launch-name">Name (optional)</label>
          <input id="launch-name" type="text" value={launch.name} placeholder="space · strategy" data-testid="launch-name" onChange={(e) => setLaunch({ name: e.target.value })} />
        </div>
        <Pick
          label="Dataset"
          value={d.kind}
          options={Object.keys(DEFAULT_DATASETS) as (keyof typeof DEFAULT_DATASETS)[]}
          testId="launch-dataset"
          onChange={(k) => setLaunch({ data: DEFAULT_DATASETS[k] })}
        />
        {d.kind === 'text' ? (
          <>
            <div className="field field-wide">
              <label htmlFor="launch-text-dir">Text folder (.txt or fortune files)</label>
              <input id="launch-text-dir" type="text" value={String(d.dir ?? '')} data-testid="launch-text-dir" onChange={(e) => setData({ dir: e.target.value })} />
            </div>
            <Num label="Context (chars)" value={Number(d.seqLen)} testId="launch-seq-len" onChange={(v) => setData({ seqLen: v })} />
            <Num label="Max chars (0 = all)" value={Number(d.maxChars)} testId="launch-max-chars" onChange={(v) => setData({ maxChars: v })} />
          </>
        ) : d.kind === 'sequence-tasks' ? (
          <>
            <Num label="String length" value={Number(d.length)} testId="launch-seq-length" onChange={(v) => setData({ length: v })} />
            <Num label="Symbols" value={Number(d.symbols)} testId="launch-symbols" onChange={(v) => setData({ symbols: v })} />
            <Num label="Samples" value={Number(d.samples)} testId="launch-samples" onChange={(v) => setData({ samples: v })} />
            <Num label="Data seed" value={Number(d.seed)} testId="launch-data-seed" onChange={(v) => setData({ seed: v })} />
          </>
        ) : d.kind !== 'fashion-mnist' ? (
          <>
            <Num label="Classes" value={Number(d.classes)} testId="launch-classes" onChange={(v) => setData({ classes: v })} />
            <Num label="Samples" value={Number(d.samples)} testId="launch-samples" onChange={(v) => setData({ samples: v })} />
            {d.kind === 'spirals' ? (
              <Num label="Noise" value={Number(d.noise)} step={0.05} testId="launch-noise" onChange={(v) => setData({ noise: v })} />
            ) : (
              <Num label="Spread" value={Number(d.spread)} step={0.1} testId="launch-spread" onChange={(v) => setData({ spread: v })} />
            )}
            <Num label="Data seed" value={Number(d.seed)} testId="launch-data-seed" onChange={(v) => setData({ seed: v })} />
          </>
        ) : (
          <>
            <div className="field field-wide">
              <label htmlFor="launch-dir">Data folder (IDX files)</label>
              <input id="launch-dir" type="text" value={String(d.dir ?? '')} data-testid="launch-dir" onChange={(e) => setData({ dir: e.target.value })} />
            </div>
            <Num label="Limit (0 = all)" value={Number(d.limit)} testId="launch-limit" onChange={(v) => setData({ limit: v })} />
            <div className="field field-check">
              <input id="launch-flatten" type="checkbox" checked={d.flatten === true} data-testid="launch-flatten" onChange={(e) => setData({ flatten: e.target.checked })} />
              <label htmlFor="launch-flatten">Flatten to 784</label>
            </div>
          </>
        )}
        <Num label="Steps" value={launch.steps} testId="launch-steps" onChange={set('steps')} />
        <Num label="Batch" value={launch.batchSize} testId="launch-batch" onChange={set('batchSize')} />
        <Num label="Learning rate" value={launch.learningRate} step={0.001} testId="launch-lr" onChange={set('learningRate')} />
        <Num label="Eval every" value={launch.evalEvery} testId="launch-eval-every" onChange={set('evalEvery')} />
        <Pick label="Strategy" value={launch.strategy} options={STRATEGIES} testId="launch-strategy" onChange={set('strategy')} help={(s) => TRAINING_STRATEGIES[s]} />
        <Pick label="Backend" value={backends.includes(launch.backend) ? launch.backend : 'auto'} options={backends} testId="launch-backend" onChange={set('backend')} />
      </div>
      {mismatch ? (
        <p className="warn" data-testid="launch-mismatch">
          {mismatch}.{' '}
          <button type="button" className="link" data-testid="launch-fit-space" onClick={fit}>
            Fit the space to the data
          </button>
        </p>
      ) : null}
      <div className="row">
        <button type="button" className="primary" data-testid="run-start" disabled={!valid || !connected || mismatch !== null} onClick={() => void startRun()}>
          Start training
        </button>
        {!valid ? <span className="muted">fix the search space first</span> : mismatch ? <span className="muted">the data does not fit the space</span> : null}
      </div>
    </section>
  );
}
