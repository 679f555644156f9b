/**
 * The run table's pure pieces: a stable colour per run (TensorBoard-style: a run keeps its colour in
 * every chart and session), the regex filter, sorting by column, tag parsing.
 */
import type { RunSummary } from '../../../core/protocol/protocol.js';

/** TensorBoard's run palette (tf-color-scale), so overlaid curves read like TensorBoard's. */
export const RUN_COLORS = [
  '#ff7043', '#0077bb', '#cc3311', '#33bbee', '#ee3377', '#009988', '#bbbbbb',
  '#f4a261', '#9467bd', '#2ca02c', '#e377c2', '#8c564b', '#17becf', '#bcbd22',
] as const;

/** FNV-1a over the run id: the same run always gets the same colour. */
export function runColor(runId: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < runId.length; i++) {
    h ^= runId.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return RUN_COLORS[h % RUN_COLORS.length]!;
}

/** The text a filter pattern is matched against: name, tags, space, data, strategy, status, id. */
export function runSearchText(r: RunSummary): string {
  return [r.name, ...(r.tags ?? []).map((t) => `#${t}`), r.spaceName, r.dataKind, r.strategy, r.status, r.id].join(' ');
}

/**
 * Runs matching `pattern`, a case-insensitive regular expression (TensorBoard's run filter). A pattern
 * that is not a valid expression is matched as plain text, and says so (`regex: false`).
 */
export function filterRuns(runs: readonly RunSummary[], pattern: string): { runs: RunSummary[]; regex: boolean } {
  const p = pattern.trim();
  if (!p) return { runs: [...runs], regex: true };
  let test: (s: string) => boolean;
  let regex = true;
  try {
    const re = new RegExp(p, 'i');
    test = (s) => re.test(s);
  } catch {
    regex = false;
    const low = p.toLowerCase();
    test = (s) => s.toLowerCase().includes(low);
  }
  return { runs: runs.filter((r) => test(runSearchText(r))), regex };
}

export type RunColumn = 'createdAt' | 'name' | 'spaceName' | 'dataKind' | 'strategy' | 'steps' | 'status' | 'bestVal';

/** The best validation accuracy a run reports: the final whole-split estimate when there is one. */
export function bestVal(r: RunSummary): number | null {
  return r.finalVal?.accuracy ?? r.bestValAccuracy;
}

function key(r: RunSummary, c: RunColumn): string | number | null {
  switch (c) {
    case 'steps':
      return r.step;
    case 'bestVal':
      return bestVal(r);
    default:
      return r[c];
  }
}

/** Sorted by a column; runs without a value (no validation yet) go last either way. */
export function sortRunsBy(runs: readonly RunSummary[], c: RunColumn, dir: 'asc' | 'desc'): RunSummary[] {
  const sign = dir === 'asc' ? 1 : -1;
  return [...runs].sort((a, b) => {
    const x = key(a, c);
    const y = key(b, c);
    if (x === null || y === null) return x === y ? 0 : x === null ? 1 : -1;
    const d = typeof x === 'number' && typeof y === 'number' ? x - y : String(x).localeCompare(String(y));
    return d === 0 ? a.id.localeCompare(b.id) : sign * d;
  });
}

/** "baseline, moe  wide" → ['baseline', 'moe', 'wide'] (commas or spaces, no duplicates, no '#'). */
export function parseTags(text: string): string[] {
  return [...new Set(text.split(/[\s,]+/).map((t) => t.replace(/^#/, '').trim()).filter(Boolean))];
}
