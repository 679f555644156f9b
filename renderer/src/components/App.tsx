import { useEffect } from 'react';
import { useShallow } from 'zustand/react/shallow';
import { useWorkbench } from '../store/store.js';
import { storedTheme, VIEWS, type View } from '../store/uiSlice.js';
import { CompareView } from '../views/CompareView.js';
import { ExpertsView } from '../views/ExpertsView.js';
import { RunsView } from '../views/RunsView.js';
import { SearchView } from '../views/SearchView.js';
import { SpaceView } from '../views/SpaceView.js';
import { Notice } from './Notice.js';
import { StatusBar } from './StatusBar.js';

const VIEW_TITLE: Record<View, string> = { space: 'Search space', runs: 'Runs', compare: 'Compare', experts: 'Experts', search: 'Search & Pareto' };

/** Ctrl+Z / Ctrl+Shift+Z (and Ctrl+Y) undo and redo search-space edits while the editor is shown. */
function useUndoKeys(view: View) {
  useEffect(() => {
    if (view !== 'space') return;
    const onKey = (e: KeyboardEvent) => {
      if (!(e.ctrlKey || e.metaKey)) return;
      const k = e.key.toLowerCase();
      const s = useWorkbench.getState();
      if (k === 'z' && !e.shiftKey) s.undoSpace();
      else if ((k === 'z' && e.shiftKey) || k === 'y') s.redoSpace();
      else return;
      e.preventDefault();
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [view]);
}

/** Follow the OS light/dark switch while the user has not picked a theme in the app. */
function useSystemTheme() {
  useEffect(() => {
    const mq = window.matchMedia?.('(prefers-color-scheme: light)');
    if (!mq) return;
    const onChange = () => {
      if (storedTheme() === null) useWorkbench.setState({ theme: mq.matches ? 'light' : 'dark' });
    };
    mq.addEventListener('change', onChange);
    return () => mq.removeEventListener('change', onChange);
  }, []);
}

export function App() {
  const { view, setView, theme, toggleTheme } = useWorkbench(
    useShallow((s) => ({ view: s.view, setView: s.setView, theme: s.theme, toggleTheme: s.toggleTheme })),
  );
  useEffect(() => {
    document.documentElement.dataset.theme = theme;
  }, [theme]);
  useSystemTheme();
  useUndoKeys(view);
  return (
    <div className="app" data-testid="app-shell">
      <header className="app-header">
        <h1>
          <span className="logo" aria-hidden="true">⇶</span> Switchyard
        </h1>
        <nav role="tablist" aria-label="Views">
          {VIEWS.map((v) => (
            <button
              key={v}
              type="button"
              role="tab"
              id={`tab-${v}`}
              aria-selected={view === v}
              tabIndex={view === v ? 0 : -1}
              aria-controls="main-view"
              data-testid={`tab-${v}`}
              onClick={() => setView(v)}
              onKeyDown={(e) => {
                const i = VIEWS.indexOf(v);
                if (e.key === 'ArrowRight' || e.key === 'ArrowLeft') {
                  const next = VIEWS[(i + (e.key === 'ArrowRight' ? 1 : VIEWS.length - 1)) % VIEWS.length]!;
                  setView(next);
                  document.getElementById(`tab-${next}`)?.focus();
                  e.preventDefault();
                }
              }}
            >
              {VIEW_TITLE[v]}
            </button>
          ))}
        </nav>
        <span className="toolbar-fill" />
        <button type="button" data-testid="theme-toggle" aria-label={`Switch to ${theme === 'dark' ? 'light' : 'dark'} theme`} onClick={toggleTheme}>
          {theme === 'dark' ? '☀ Light' : '☾ Dark'}
        </button>
      </header>
      <main id="main-view" role="tabpanel" aria-labelledby={`tab-${view}`}>
        {view === 'space' ? <SpaceView /> : null}
        {view === 'runs' ? <RunsView /> : null}
        {view === 'compare' ? <CompareView /> : null}
        {view === 'experts' ? <ExpertsView /> : null}
        {view === 'search' ? <SearchView /> : null}
      </main>
      <Notice />
      <StatusBar />
    </div>
  );
}
