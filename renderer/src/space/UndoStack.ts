/**
 * An immutable undo history. Edits that share a coalescing key and arrive within `coalesceMs` of each
 * other (typing into one field) become one undo step; any other edit starts a new one.
 */
export interface UndoStack<T> {
  readonly past: readonly T[];
  readonly present: T;
  readonly future: readonly T[];
  readonly lastKey: string | null;
  readonly lastAt: number;
}

export const UNDO_LIMIT = 200;

export function createUndoStack<T>(present: T): UndoStack<T> {
  return { past: [], present, future: [], lastKey: null, lastAt: -Infinity };
}

export function commit<T>(
  s: UndoStack<T>,
  next: T,
  opts: { key?: string; now?: number; coalesceMs?: number } = {},
): UndoStack<T> {
  if (Object.is(next, s.present)) return s;
  const now = opts.now ?? Date.now();
  const key = opts.key ?? null;
  const coalesce = key !== null && key === s.lastKey && now - s.lastAt <= (opts.coalesceMs ?? 1000);
  if (coalesce) return { ...s, present: next, future: [], lastAt: now };
  const past = [...s.past, s.present];
  if (past.length > UNDO_LIMIT) past.splice(0, past.length - UNDO_LIMIT);
  return { past, present: next, future: [], lastKey: key, lastAt: now };
}

export function undo<T>(s: UndoStack<T>): UndoStack<T> {
  if (s.past.length === 0) return s;
  const prev = s.past[s.past.length - 1]!;
  return { past: s.past.slice(0, -1), present: prev, future: [s.present, ...s.future], lastKey: null, lastAt: -Infinity };
}

export function redo<T>(s: UndoStack<T>): UndoStack<T> {
  if (s.future.length === 0) return s;
  const [next, ...rest] = s.future;
  return { past: [...s.past, s.present], present: next!, future: rest, lastKey: null, lastAt: -Infinity };
}

export const canUndo = <T>(s: UndoStack<T>) => s.past.length > 0;
export const canRedo = <T>(s: UndoStack<T>) => s.future.length > 0;
