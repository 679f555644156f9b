/**
 * Data shaping of the token view (issue 12): from a `run.tokenRouting` answer, per token the expert it went
 * to in one layer (its highest-gate slot) and the hover text with every used slot's gate; the per-position
 * load (share of the layer's assignments at position t taken by each slot); and the expert × token-class
 * matrix (characters / symbols as classes, tokens counted at their top expert). Pure functions, so the
 * React side only renders; d3 groups the tokens by class.
 */
import { rollup } from 'd3';
import type { RoutedToken, TokenRouting } from '../../../core/protocol/protocol.js';
import { categoryColor } from '../charts/heatmapColor.js';

export interface TokenCell {
  text: string;
  /** The slot with the highest gate in the layer; null where the token used none (expert choice). */
  expert: number | null;
  color: string;
  /** "e1 0.620 · e0 0.380" */
  gates: string;
}

/** Printable form of a token: whitespace and specials stay visible in the coloured text. */
export function displayToken(text: string): string {
  if (text === ' ') return '·';
  if (text === '\n') return '↵';
  if (text === '\t') return '⇥';
  return text;
}

export const NO_EXPERT_COLOR = '#d0d0d0';

export function tokenCell(tok: RoutedToken, layer: number, expertNames: readonly string[]): TokenCell {
  const l = tok.layers[layer];
  if (!l) throw new Error(`token "${tok.text}" has no layer ${layer}`);
  const expert = l.experts[0] ?? null;
  return {
    text: displayToken(tok.text),
    expert,
    color: expert === null ? NO_EXPERT_COLOR : categoryColor(expert),
    gates: l.experts.length === 0 ? 'no expert' : l.experts.map((e, i) => `${expertNames[e] ?? `slot ${e}`} ${l.gates[i]!.toFixed(3)}`).join(' · '),
  };
}

/** Per sequence, its token cells in one layer. */
export function tokenCells(r: TokenRouting, layer: number): TokenCell[][] {
  const names = r.layers[layer]?.expertNames ?? [];
  return r.sequences.map((s) => s.tokens.map((t) => tokenCell(t, layer, names)));
}

/**
 * loads[slot][t] = assignments of position t to the slot / all assignments at position t, over the batch's
 * sequences (every used slot counts once, so a top-2 layer splits each token between two slots).
 */
export function loadOverPositions(r: TokenRouting, layer: number): number[][] {
  const slots = r.layers[layer]?.expertNames.length ?? 0;
  const T = Math.max(0, ...r.sequences.map((s) => s.tokens.length));
  const counts = Array.from({ length: slots }, () => new Array<number>(T).fill(0));
  const totals = new Array<number>(T).fill(0);
  for (const s of r.sequences)
    s.tokens.forEach((tok, t) => {
      for (const e of tok.layers[layer]!.experts) {
        counts[e]![t]! += 1;
        totals[t]! += 1;
      }
    });
  return counts.map((row) => row.map((c, t) => (totals[t]! > 0 ? c / totals[t]! : 0)));
}

export interface ClassMatrix {
  /** Token classes, most frequent first (ties by text). */
  rowLabels: string[];
  colLabels: string[];
  /** counts[class][slot]: tokens of the class whose top expert is the slot. */
  counts: number[][];
  /** Tokens of each class in the batch. */
  totals: number[];
}

/** Expert × token-class counts at the top expert; at most `maxClasses` classes (the most frequent). */
export function tokenClassMatrix(r: TokenRouting, layer: number, maxClasses = 32): ClassMatrix {
  const names = r.layers[layer]?.expertNames ?? [];
  const tokens = r.sequences.flatMap((s) => s.tokens);
  const byClass = rollup(
    tokens,
    (ts) => {
      const row = new Array<number>(names.length).fill(0);
      for (const t of ts) {
        const e = t.layers[layer]!.experts[0];
        if (e !== undefined) row[e]! += 1;
      }
      return { row, n: ts.length };
    },
    (t) => t.text,
  );
  const classes = [...byClass.entries()].sort((a, b) => b[1].n - a[1].n || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).slice(0, maxClasses);
  return {
    rowLabels: classes.map(([c]) => displayToken(c)),
    colLabels: [...names],
    counts: classes.map(([, v]) => v.row),
    totals: classes.map(([, v]) => v.n),
  };
}
