import { useShallow } from 'zustand/react/shallow';
import { CheckField, ChoicesField, IssuesUnder, NumberField, OptionSetField, SelectField, TextField } from '../components/fields.js';
import {
  BLOCK_TYPES,
  defaultRouting,
  pathString,
  ROUTING_MODES,
  setBlockType,
  setIn,
  type PathKey,
  type RoutingMode,
} from '../space/spaceEdits.js';
import { routingDescriptors } from '../../../core/space/routing/registry.js';
import { useWorkbench } from '../store/store.js';

const ACTIVATIONS = ['relu', 'gelu', 'tanh', 'sigmoid', 'linear'] as const;

/** Side panel: the selected stage's block and, for MoE blocks, routing and expert settings. */
export function StageEditor() {
  const { index, type, mode, hasCapacity, hasMomentum, hasArchMixture, edit } = useWorkbench(
    useShallow((s) => {
      const st = s.history.present.stages[s.selectedStage];
      const b = st?.block;
      return {
        index: st ? s.selectedStage : -1,
        type: b?.type,
        mode: b?.type === 'moe' ? (b.routing?.mode ?? 'topk') : undefined,
        hasCapacity: b?.type === 'moe' && b.capacityFactor !== null && b.capacityFactor !== undefined,
        hasMomentum: b?.type === 'moe' && b.momentum !== undefined && b.momentum !== null,
        hasArchMixture: b?.type === 'dense' && b.archMixture !== undefined && b.archMixture !== null,
        edit: s.editSpace,
      };
    }),
  );
  if (index < 0) return <p className="muted">Select a stage.</p>;
  const stage: PathKey[] = ['stages', index];
  const block: PathKey[] = [...stage, 'block'];
  const b = (k: string): PathKey[] => [...block, k];
  const r = (k: string): PathKey[] => [...block, 'routing', k];
  const shown: string[] = [];
  const track = <T extends PathKey[]>(p: T) => (shown.push(pathString(p)), p);

  return (
    <section className="stage-editor" aria-label={`Stage ${index + 1} settings`} data-testid="stage-editor">
      <h3>Stage {index + 1}</h3>
      <div className="field-grid">
        <TextField path={track([...stage, 'id'])} label="Stage id" />
        <ChoicesField path={track([...stage, 'depth'])} label="Depth choices" hint="elastic depth, e.g. 1, 2" />
        <SelectField
          path={track(b('type'))}
          label="Block type"
          options={BLOCK_TYPES}
          onPick={(t) => edit((d) => setBlockType(d, index, t))}
        />
      </div>
      {type === 'dense' ? (
        <div className="field-grid">
          <ChoicesField path={track(b('width'))} label="Width choices" />
          <SelectField path={track(b('activation'))} label="Activation" options={ACTIVATIONS} />
          <OptionSetField path={track(b('ops'))} label="Operations" options={['dense', 'identity']} />
          <CheckField path={track(b('residual'))} label="Residual connection" />
          <ChoicesField path={track(b('bits'))} label="Bit-width choices" hint="weight bits per output channel, 2–8 or 32 = float (empty: float)" optional />
          <OptionToggle
            id={`archMixture-${index}`}
            checked={hasArchMixture}
            label="Mixture-of-Supernets (weights mixed by a router on the architecture)"
            onChange={(on) => edit((d) => setIn(d, b('archMixture'), on ? { sets: 2, hidden: 128 } : undefined))}
          />
          {hasArchMixture ? <NumberField path={track([...b('archMixture'), 'sets'])} label="Weight sets K" /> : null}
          {hasArchMixture ? <NumberField path={track([...b('archMixture'), 'hidden'])} label="Router hidden width" /> : null}
        </div>
      ) : null}
      {type === 'conv' ? (
        <div className="field-grid">
          <ChoicesField path={track(b('channels'))} label="Channel choices" />
          <ChoicesField path={track(b('kernel'))} label="Kernel choices" hint="odd sizes, e.g. 3, 5" />
          <SelectField path={track(b('stride'))} label="Stride" options={[1, 2] as const} />
          <SelectField path={track(b('activation'))} label="Activation" options={ACTIVATIONS} />
          <OptionSetField path={track(b('ops'))} label="Operations" options={['conv', 'identity']} />
          <CheckField path={track(b('batchNorm'))} label="Batch norm" />
        </div>
      ) : null}
      {type === 'moe' ? (
        <>
          <h4>Experts</h4>
          <div className="field-grid">
            <NumberField path={track(b('experts'))} label="Routed experts" />
            <ChoicesField path={track(b('expertCounts'))} label="Expert-count choices" hint="PR-MoE: searchable experts per layer, each ≤ routed experts (empty: fixed)" optional />
            <ChoicesField path={track(b('expertHidden'))} label="Expert hidden choices" />
            <ChoicesField path={track(b('bits'))} label="Expert bit-width choices" hint="expert weight bits per output channel, 2–8 or 32 = float (empty: float)" optional />
            <SelectField path={track(b('activation'))} label="Activation" options={ACTIVATIONS} />
            <NumberField path={track(b('sharedExperts'))} label="Shared experts" hint="DeepSeekMoE: always active" />
            <NumberField path={track(b('segments'))} label="Segments" hint="fine-grained split per expert" />
            <CheckField path={track(b('residual'))} label="Residual connection" />
            <CheckField path={track(b('residualMlp'))} label="Residual MoE (dense MLP + experts, DeepSpeed-MoE)" />
            <NumberField path={track(b('iterations'))} label="Chain-of-Experts passes" hint="C passes over the same experts, a router each (1: off)" />
            <OptionToggle
              id={`momentum-${index}`}
              checked={hasMomentum}
              label="MomentumSMoE (heavy-ball across MoE layers)"
              onChange={(on) => edit((d) => setIn(d, b('momentum'), on ? { mu: 0.7, gamma: 1 } : undefined))}
            />
            {hasMomentum ? <NumberField path={track([...b('momentum'), 'mu'])} label="Momentum μ" step={0.05} /> : null}
            {hasMomentum ? <NumberField path={track([...b('momentum'), 'gamma'])} label="Step γ" step={0.1} /> : null}
          </div>
          <h4>Routing</h4>
          <div className="field-grid">
            <SelectField<RoutingMode>
              path={track(r('mode'))}
              label="Routing mode"
              options={ROUTING_MODES}
              onPick={(m) => edit((d) => setIn(d, [...block, 'routing'], defaultRouting(m)))}
            />
            {/* The mode's own fields, from its descriptor (core/space/routing/<mode>.ts). */}
            {mode && mode in routingDescriptors
              ? routingDescriptors[mode].fields.map((f) =>
                  f.kind === 'check' ? (
                    <CheckField key={f.key} path={track(r(f.key))} label={f.label} />
                  ) : (
                    <NumberField key={f.key} path={track(r(f.key))} label={f.label} hint={f.hint} step={f.step} />
                  ),
                )
              : null}
            <div className="field field-check">
              <input
                id={`cap-${index}`}
                type="checkbox"
                checked={hasCapacity}
                data-testid="field-capacity-limit"
                onChange={(e) => edit((d) => setIn(d, b('capacityFactor'), e.target.checked ? 1.25 : null))}
              />
              <label htmlFor={`cap-${index}`}>Capacity limit</label>
            </div>
            {hasCapacity ? <NumberField path={track(b('capacityFactor'))} label="Capacity factor" step={0.25} nullable /> : null}
            <NumberField path={track(b('auxLossWeight'))} label="Aux loss weight" step={0.005} />
          </div>
          <h4>Special experts</h4>
          <div className="field-grid">
            <NumberField path={track(b('nullExperts'))} label="Null experts" hint="AdaMoE" />
            <NumberField path={track(b('zeroExperts'))} label="Zero experts" hint="MoE++" />
            <NumberField path={track(b('copyExperts'))} label="Copy experts" hint="MoE++" />
            <NumberField path={track(b('constantExperts'))} label="Constant experts" hint="MoE++" />
          </div>
        </>
      ) : null}
      <IssuesUnder prefix={pathString(stage)} shown={shown} />
    </section>
  );
}

/** Space-wide settings: name, input and classes. */
export function SpaceMeta() {
  const { inputKind, edit } = useWorkbench(useShallow((s) => ({ inputKind: s.history.present.input?.kind, edit: s.editSpace })));
  return (
    <section className="space-meta" aria-label="Space settings">
      <div className="field-grid">
        <TextField path={['name']} label="Space name" />
        <SelectField
          path={['input', 'kind']}
          label="Input"
          options={['vector', 'image'] as const}
          onPick={(k) =>
            edit((d) => setIn(d, ['input'], k === 'vector' ? { kind: 'vector', dim: 2 } : { kind: 'image', height: 28, width: 28, channels: 1 }))
          }
        />
        {inputKind === 'image' ? (
          <>
            <NumberField path={['input', 'height']} label="Height" />
            <NumberField path={['input', 'width']} label="Width" />
            <NumberField path={['input', 'channels']} label="Channels" />
          </>
        ) : (
          <NumberField path={['input', 'dim']} label="Input dim" />
        )}
        <NumberField path={['numClasses']} label="Classes" />
      </div>
      <IssuesUnder prefix="input" shown={['input.kind', 'input.dim', 'input.height', 'input.width', 'input.channels']} />
    </section>
  );
}

/** A checkbox that adds an optional block option with its defaults, or removes it (data-testid "field-<option>"). */
function OptionToggle({ id, checked, label, onChange }: { id: string; checked: boolean; label: string; onChange: (on: boolean) => void }) {
  return (
    <div className="field field-check">
      <input id={id} type="checkbox" checked={checked} data-testid={`field-${id.replace(/-\d+$/, '')}`} onChange={(e) => onChange(e.target.checked)} />
      <label htmlFor={id}>{label}</label>
    </div>
  );
}
