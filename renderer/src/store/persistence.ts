/**
 * What survives a reload: the edited search space (local storage, written shortly after each edit) and
 * the view and open run (the URL, so a link or a reload shows the same run; the page's ?token= stays).
 */
import type { SpaceDoc } from '../space/spaceEdits.js';
import { createUndoStack } from '../space/UndoStack.js';
import { VIEWS, type View } from './uiSlice.js';
import type { useWorkbench } from './store.js';

export const SPACE_KEY = 'switchyard.space';
export const WELCOMED_KEY = 'switchyard.welcomed';

type Store = typeof useWorkbench;

/** The view and run named in a query string (unknown views are ignored). */
export function parseUrlState(search: string): { view: View | null; run: string | null } {
  const q = new URLSearchParams(search);
  const v = q.get('view');
  return { view: v && (VIEWS as readonly string[]).includes(v) ? (v as View) : null, run: q.get('run') || null };
}

/** The query string with `view` and `run` set (or removed when null), every other parameter kept. */
export function urlWith(search: string, state: { view: View; run: string | null }): string {
  const q = new URLSearchParams(search);
  q.set('view', state.view);
  if (state.run) q.set('run', state.run);
  else q.delete('run');
  return `?${q.toString()}`;
}

/** A stored space document, or null when there is none or it is not one (then the default stays). */
export function parseStoredSpace(text: string | null): SpaceDoc | null {
  if (!text) return null;
  try {
    const doc = JSON.parse(text) as { stages?: unknown };
    return doc && typeof doc === 'object' && Array.isArray(doc.stages) ? (doc as SpaceDoc) : null;
  } catch {
    return null;
  }
}

function storage(): Storage | null {
  try {
    return globalThis.localStorage ?? null;
  } catch {
    return null; // blocked storage: nothing is kept, nothing breaks
  }
}

/** Whether this browser has seen (and closed) the welcome. */
export function welcomed(): boolean {
  try {
    return storage()?.getItem(WELCOMED_KEY) === '1';
  } catch {
    return true; // no storage: do not show it on every open
  }
}

export function rememberWelcomed(): void {
  try {
    storage()?.setItem(WELCOMED_KEY, '1');
  } catch {
    // shown again next time
  }
}

/** Put back what the last session left: call before the first render. */
export function restoreState(store: Store, loc: { search: string } = window.location): void {
  const doc = parseStoredSpace(storage()?.getItem(SPACE_KEY) ?? null);
  if (doc) store.setState((s) => ({ history: createUndoStack(doc), revision: s.revision + 1 }));
  // A first open (nothing kept, welcome never closed) starts at the welcome with the examples.
  else if (!welcomed()) store.setState({ welcome: true });
  const { view, run } = parseUrlState(loc.search);
  if (view) store.getState().setView(view);
  // Opened by connectCore's first refresh (it reopens the run on screen).
  if (run) store.getState().setActiveRun(run, null);
}

/** Keep storage and the URL current; returns the unsubscriber. */
export function persistState(store: Store, win: Window = window): () => void {
  let timer: ReturnType<typeof setTimeout> | null = null;
  const off = store.subscribe((s, prev) => {
    if (s.history.present !== prev.history.present) {
      // the first edit (or an example opened) ends the welcome
      if (s.welcome) {
        rememberWelcomed();
        store.setState({ welcome: false });
      }
      if (timer) clearTimeout(timer);
      timer = setTimeout(() => {
        try {
          storage()?.setItem(SPACE_KEY, JSON.stringify(store.getState().history.present));
        } catch {
          // full or blocked: the edit stays on screen, it is just not kept
        }
      }, 250);
    }
    if (s.view !== prev.view || s.activeRunId !== prev.activeRunId) {
      const next = urlWith(win.location.search, { view: s.view, run: s.activeRunId });
      if (next !== win.location.search) win.history.replaceState(null, '', next + win.location.hash);
    }
  });
  return () => {
    off();
    if (timer) clearTimeout(timer);
  };
}
