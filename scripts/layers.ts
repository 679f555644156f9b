/**
 * core/'s floors, checked on the import graph (STYLE.md rule 10; VS Code's layer check is the model):
 *
 *   space → protocol → nn, data → train → search, export, compress → queue → host → cli
 *
 * A file imports only its own floor or lower, and no files import each other in a circle (type-only
 * imports count too: a type cycle is a seam in the wrong place). Tests (`*.test.ts`) sit beside the
 * code and may reach up for fixtures; they are left out.
 */
import { readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { IMPORT_RE, walk } from './boundaries.js';

/** Floor of each top-level folder of core/; folders on one floor may import each other (not in a circle). */
export const FLOORS: Record<string, number> = {
  space: 0,
  protocol: 1,
  nn: 2,
  data: 2,
  train: 3,
  search: 4,
  export: 4,
  /**
   * Compression passes (issue 15): numerical cores over expert weight arrays, and graph → graph passes
   * over the subnet graph. On the graph's floor (export/ today) so it can read it; below queue/host/cli.
   */
  compress: 4,
  /** BullMQ jobs (core/queue): trains runs and rankings on workers; the host wires it in. */
  queue: 5,
  host: 6,
  cli: 7,
};

export interface LayerViolation {
  file: string;
  line: number;
  text: string;
  rule: string;
}

interface Edge {
  to: string;
  line: number;
  text: string;
}

/** core-relative file → its relative imports inside core/ (as core-relative .ts paths). */
export function importGraph(coreDir: string): Map<string, Edge[]> {
  const graph = new Map<string, Edge[]>();
  for (const abs of walk(coreDir)) {
    const file = relative(coreDir, abs);
    const edges: Edge[] = [];
    const lines = readFileSync(abs, 'utf8').split('\n');
    lines.forEach((text, i) => {
      const t = text.trim();
      if (t.startsWith('//') || t.startsWith('*') || t.startsWith('/*')) return;
      const m = IMPORT_RE.exec(text);
      const spec = m?.[1] ?? m?.[2] ?? m?.[3];
      if (!spec || !spec.startsWith('.')) return;
      const target = relative(coreDir, resolve(dirname(abs), spec)).replace(/\.(m?js)$/, '.ts');
      if (target.startsWith('..')) return;
      edges.push({ to: target, line: i + 1, text: t });
    });
    graph.set(file, edges);
  }
  return graph;
}

function floorOf(file: string): { folder: string; floor: number | undefined } {
  const folder = file.split('/')[0]!;
  return { folder, floor: FLOORS[folder] };
}

/** Strongly connected components with more than one file (Tarjan), each sorted. */
export function cycles(graph: Map<string, Edge[]>): string[][] {
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string) => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const { to: w } of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const comp: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        comp.push(w);
      } while (w !== v);
      if (comp.length > 1) out.push(comp.sort());
    }
  };
  for (const v of [...graph.keys()].sort()) if (!idx.has(v)) visit(v);
  return out;
}

export function checkLayers(repoRoot: string): LayerViolation[] {
  const coreDir = join(repoRoot, 'core');
  const graph = importGraph(coreDir);
  const out: LayerViolation[] = [];
  for (const [file, edges] of graph) {
    const from = floorOf(file);
    if (from.floor === undefined) {
      out.push({ file: `core/${file}`, line: 1, text: file, rule: `core/${from.folder}/ has no floor in scripts/layers.ts FLOORS` });
      continue;
    }
    for (const e of edges) {
      const to = floorOf(e.to);
      if (to.floor !== undefined && to.floor > from.floor) {
        out.push({ file: `core/${file}`, line: e.line, text: e.text, rule: `upward import: ${from.folder} (floor ${from.floor}) imports ${to.folder} (floor ${to.floor})` });
      }
    }
  }
  for (const comp of cycles(graph)) {
    const first = comp[0]!;
    const edge = graph.get(first)!.find((e) => comp.includes(e.to))!;
    out.push({ file: `core/${first}`, line: edge.line, text: edge.text, rule: `import cycle: ${comp.map((f) => `core/${f}`).join(' ↔ ')}` });
  }
  return out;
}
