/**
 * Form fields bound to a path of the search-space document. Each shows the core's validation issues
 * for its exact path beside the input (`stages[1].block.routing.k`), and is labelled for screen readers.
 */
import { useEffect, useId, useState } from 'react';
import { useShallow } from 'zustand/react/shallow';
import { useWorkbench } from '../store/store.js';
import { issueBelongsTo, issueMessageAt } from '../space/issuePaths.js';
import { getIn, parseChoices, pathString, setIn, type PathKey } from '../space/spaceEdits.js';

const EMPTY: readonly string[] = [];

/** Messages of the current validation issues at exactly this path. */
export function useIssuesAt(path: string): readonly string[] {
  return useWorkbench(
    useShallow((s) => {
      const v = s.validation;
      if (!v || v.revision !== s.revision) return EMPTY;
      // a list's field also shows the issues of its elements (a negative width: `width[0]`)
      const hits = v.issues.filter((i) => issueBelongsTo(i.path, path));
      return hits.length ? hits.map((i) => issueMessageAt(i.path, path, i.message)) : EMPTY;
    }),
  );
}

function useDocValue(path: readonly PathKey[]): unknown {
  return useWorkbench((s) => getIn(s.history.present, path));
}

function useSeal() {
  return useWorkbench((s) => s.sealEdit);
}

function useSetter(path: readonly PathKey[]) {
  const edit = useWorkbench((s) => s.editSpace);
  const key = pathString(path);
  return (value: unknown) => edit((doc) => setIn(doc, path, value), key);
}

interface FieldProps {
  path: readonly PathKey[];
  label: string;
  hint?: string;
}

function FieldShell(props: { id: string; label: string; hint?: string; issues: readonly string[]; path: string; children: React.ReactNode }) {
  const errId = `${props.id}-err`;
  return (
    <div className={`field${props.issues.length ? ' field-invalid' : ''}`} data-path={props.path}>
      <label htmlFor={props.id}>{props.label}</label>
      {props.children}
      {props.hint && !props.issues.length ? <span className="field-hint">{props.hint}</span> : null}
      {props.issues.length ? (
        <span className="field-error" id={errId} role="alert" data-testid={`issue-${props.path}`}>
          {props.issues.join('; ')}
        </span>
      ) : null}
    </div>
  );
}

export function NumberField({ path, label, hint, step, nullable }: FieldProps & { step?: number; nullable?: boolean }) {
  const id = useId();
  const p = pathString(path);
  const issues = useIssuesAt(p);
  const value = useDocValue(path);
  const set = useSetter(path);
  const seal = useSeal();
  const [text, setText] = useState(value === null || value === undefined ? '' : String(value));
  useEffect(() => {
    const cur = value === null || value === undefined ? '' : String(value);
    setText((t) => (Number(t) === value && t.trim() !== '' ? t : cur));
  }, [value]);
  return (
    <FieldShell id={id} label={label} hint={hint} issues={issues} path={p}>
      <input
        id={id}
        type="number"
        step={step ?? 1}
        value={text}
        data-testid={`field-${p}`}
        aria-invalid={issues.length > 0}
        aria-describedby={issues.length ? `${id}-err` : undefined}
        placeholder={nullable ? 'none' : undefined}
        onBlur={seal}
        onChange={(e) => {
          const t = e.target.value;
          setText(t);
          if (t.trim() === '') set(nullable ? null : undefined);
          else if (Number.isFinite(Number(t))) set(Number(t));
        }}
      />
    </FieldShell>
  );
}

/** A list of numeric choices written as "16, 32, 64" (elastic widths, depths, kernels). */
/** `optional`: clearing the text removes the field (an optional choice list such as PR-MoE's expertCounts). */
export function ChoicesField({ path, label, hint, optional }: FieldProps & { optional?: boolean }) {
  const id = useId();
  const p = pathString(path);
  const issues = useIssuesAt(p);
  const value = useDocValue(path);
  const set = useSetter(path);
  const seal = useSeal();
  const asText = Array.isArray(value) ? value.join(', ') : '';
  const [text, setText] = useState(asText);
  const [bad, setBad] = useState(false);
  useEffect(() => {
    setText((t) => (JSON.stringify(parseChoices(t)) === JSON.stringify(value) ? t : asText));
  }, [asText, value]);
  const shown = bad ? ['write numbers separated by commas', ...issues] : issues;
  return (
    <FieldShell id={id} label={label} hint={hint ?? 'comma-separated choices'} issues={shown} path={p}>
      <input
        id={id}
        type="text"
        inputMode="numeric"
        value={text}
        data-testid={`field-${p}`}
        aria-invalid={shown.length > 0}
        aria-describedby={shown.length ? `${id}-err` : undefined}
        onBlur={seal}
        onChange={(e) => {
          setText(e.target.value);
          const parsed = parseChoices(e.target.value);
          setBad(parsed === null);
          if (parsed) set(optional && parsed.length === 0 ? undefined : parsed);
        }}
      />
    </FieldShell>
  );
}

export function TextField({ path, label, hint }: FieldProps) {
  const id = useId();
  const p = pathString(path);
  const issues = useIssuesAt(p);
  const value = useDocValue(path);
  const set = useSetter(path);
  const seal = useSeal();
  return (
    <FieldShell id={id} label={label} hint={hint} issues={issues} path={p}>
      <input
        id={id}
        type="text"
        value={typeof value === 'string' ? value : ''}
        data-testid={`field-${p}`}
        aria-invalid={issues.length > 0}
        onBlur={seal}
        onChange={(e) => set(e.target.value)}
      />
    </FieldShell>
  );
}

export function SelectField<T extends string | number>({
  path,
  label,
  options,
  onPick,
}: FieldProps & { options: readonly T[]; onPick?: (v: T) => void }) {
  const id = useId();
  const p = pathString(path);
  const issues = useIssuesAt(p);
  const value = useDocValue(path);
  const set = useSetter(path);
  return (
    <FieldShell id={id} label={label} issues={issues} path={p}>
      <select
        id={id}
        value={value === undefined ? '' : String(value)}
        data-testid={`field-${p}`}
        aria-invalid={issues.length > 0}
        onChange={(e) => {
          const v = options.find((o) => String(o) === e.target.value)!;
          if (onPick) onPick(v);
          else set(v);
        }}
      >
        {options.map((o) => (
          <option key={String(o)} value={String(o)}>
            {String(o)}
          </option>
        ))}
      </select>
    </FieldShell>
  );
}

export function CheckField({ path, label }: FieldProps) {
  const id = useId();
  const p = pathString(path);
  const issues = useIssuesAt(p);
  const value = useDocValue(path);
  const set = useSetter(path);
  return (
    <div className={`field field-check${issues.length ? ' field-invalid' : ''}`} data-path={p}>
      <input id={id} type="checkbox" checked={value === true} data-testid={`field-${p}`} onChange={(e) => set(e.target.checked)} />
      <label htmlFor={id}>{label}</label>
      {issues.length ? (
        <span className="field-error" role="alert" data-testid={`issue-${p}`}>
          {issues.join('; ')}
        </span>
      ) : null}
    </div>
  );
}

/** A set of string options as checkboxes (block ops: dense / identity). */
export function OptionSetField({ path, label, options }: FieldProps & { options: readonly string[] }) {
  const p = pathString(path);
  const issues = useIssuesAt(p);
  const value = useDocValue(path);
  const set = useSetter(path);
  const cur = Array.isArray(value) ? (value as string[]) : [];
  return (
    <fieldset className={`field field-set${issues.length ? ' field-invalid' : ''}`} data-path={p}>
      <legend>{label}</legend>
      {options.map((o) => (
        <label key={o} className="inline">
          <input
            type="checkbox"
            checked={cur.includes(o)}
            data-testid={`field-${p}-${o}`}
            onChange={(e) => set(e.target.checked ? options.filter((x) => x === o || cur.includes(x)) : cur.filter((x) => x !== o))}
          />
          {o}
        </label>
      ))}
      {issues.length ? (
        <span className="field-error" role="alert" data-testid={`issue-${p}`}>
          {issues.join('; ')}
        </span>
      ) : null}
    </fieldset>
  );
}

/** Issues under a path prefix that no field shows (e.g. a cross-field rule on the whole block). */
export function IssuesUnder({ prefix, shown }: { prefix: string; shown: readonly string[] }) {
  const issues = useWorkbench(
    useShallow((s) => {
      const v = s.validation;
      if (!v || v.revision !== s.revision) return EMPTY;
      const list = v.issues
        .filter((i) => (i.path === prefix || i.path.startsWith(`${prefix}.`) || i.path.startsWith(`${prefix}[`)) && !shown.some((f) => issueBelongsTo(i.path, f)))
        .map((i) => `${i.path}: ${i.message}`);
      return list.length ? list : EMPTY;
    }),
  );
  if (!issues.length) return null;
  return (
    <ul className="issue-list" role="alert" data-testid={`issues-under-${prefix}`}>
      {issues.map((m) => (
        <li key={m}>{m}</li>
      ))}
    </ul>
  );
}
