import type { StateCreator } from 'zustand';
import type { MethodResult } from '../../../core/protocol/protocol.js';
import type { TransportStatus } from '../transport/Transport.js';
import type { WorkbenchState } from './store.js';

export type Theme = 'dark' | 'light';
export type View = 'space' | 'runs' | 'compare' | 'experts' | 'search';
export const VIEWS: readonly View[] = ['space', 'runs', 'compare', 'experts', 'search'];
export const THEME_KEY = 'switchyard.theme';

export interface Notice {
  level: 'info' | 'error';
  text: string;
  at: number;
}

export interface UiSlice {
  theme: Theme;
  view: View;
  connection: TransportStatus;
  hello: MethodResult<'host.hello'> | null;
  notice: Notice | null;
  /** The welcome panel (first open): set by restoreState, closed for good by the user. */
  welcome: boolean;
  dismissWelcome(): void;
  /** The x axis of training curves: steps or wall time. */
  chartX: 'step' | 'time';
  setChartX(x: 'step' | 'time'): void;
  setTheme(t: Theme): void;
  toggleTheme(): void;
  setView(v: View): void;
  setConnection(s: TransportStatus): void;
  setHello(h: MethodResult<'host.hello'> | null): void;
  notify(level: Notice['level'], text: string): void;
  clearNotice(): void;
}

/** The theme the user picked, if any (else the OS preference decides: prefersTheme). */
export function storedTheme(): Theme | null {
  try {
    const t = globalThis.localStorage?.getItem(THEME_KEY);
    if (t === 'light' || t === 'dark') return t;
  } catch {
    // storage can be blocked; fall back to the OS preference
  }
  return null;
}

/** The OS light/dark preference (prefers-color-scheme); dark where it cannot be read. */
export function prefersTheme(): Theme {
  return globalThis.matchMedia?.('(prefers-color-scheme: light)').matches ? 'light' : 'dark';
}

export const createUiSlice: StateCreator<WorkbenchState, [], [], UiSlice> = (set, get) => ({
  theme: storedTheme() ?? prefersTheme(),
  view: 'space',
  connection: 'connecting',
  hello: null,
  notice: null,
  welcome: false,
  dismissWelcome: () => set({ welcome: false }),
  chartX: 'step',
  setChartX: (chartX) => set({ chartX }),
  setTheme(theme) {
    try {
      globalThis.localStorage?.setItem(THEME_KEY, theme);
    } catch {
      // not remembered, still applied
    }
    set({ theme });
  },
  toggleTheme() {
    get().setTheme(get().theme === 'dark' ? 'light' : 'dark');
  },
  setView: (view) => set({ view }),
  setConnection: (connection) => set({ connection }),
  setHello: (hello) => set({ hello }),
  notify: (level, text) => set({ notice: { level, text, at: Date.now() } }),
  clearNotice: () => set({ notice: null }),
});
