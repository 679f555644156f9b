/**
 * Few-shot NAS's splits as numbers in MetricPoint.strategy (the only channel a strategy's view has), and
 * back: the trainer side (core/train/strategies/fewshot.ts) encodes, the run view
 * (renderer/src/views/FewShotPanel.tsx) decodes. Keys carry a "/" so the generic strategy charts skip them.
 *
 *   fewshot/splits            [count]
 *   fewshot/split<i>          [step, leaf, newLeaf, chosen edge index, edges measured]
 *   fewshot/split<i>/edge<e>  [position, score, n, group of each of the n choices (0 | 1), n × n similarity]
 */
export interface FewShotEdgeView {
  position: number;
  /** Mean cross-group cosine similarity (lowest = split). */
  score: number;
  groups: [number[], number[]];
  similarity: number[][];
}

export interface FewShotSplitView {
  step: number;
  leaf: number;
  newLeaf: number;
  chosen: number;
  edges: FewShotEdgeView[];
}

export type FewShotTreeView = { leaf: number } | { position: number; groups: [number[], number[]]; children: [FewShotTreeView, FewShotTreeView]; step: number };

export const FEWSHOT_REPORT_PREFIX = 'fewshot/';

export function encodeFewShotSplits(splits: readonly FewShotSplitView[]): Record<string, number[]> {
  const out: Record<string, number[]> = { [`${FEWSHOT_REPORT_PREFIX}splits`]: [splits.length] };
  splits.forEach((s, i) => {
    out[`${FEWSHOT_REPORT_PREFIX}split${i}`] = [s.step, s.leaf, s.newLeaf, s.chosen, s.edges.length];
    s.edges.forEach((e, k) => {
      const n = e.similarity.length;
      const groupOf = Array.from({ length: n }, (_, c) => (e.groups[1].includes(c) ? 1 : 0));
      out[`${FEWSHOT_REPORT_PREFIX}split${i}/edge${k}`] = [e.position, e.score, n, ...groupOf, ...e.similarity.flat()];
    });
  });
  return out;
}

/** The splits in a report, or null when it holds none (another strategy's point). */
export function decodeFewShotSplits(report: Readonly<Record<string, number | number[]>> | undefined): FewShotSplitView[] | null {
  const count = report?.[`${FEWSHOT_REPORT_PREFIX}splits`];
  if (!report || !Array.isArray(count)) return null;
  const out: FewShotSplitView[] = [];
  for (let i = 0; i < (count[0] ?? 0); i++) {
    const head = report[`${FEWSHOT_REPORT_PREFIX}split${i}`];
    if (!Array.isArray(head) || head.length < 5) return null;
    const [step, leaf, newLeaf, chosen, nEdges] = head as [number, number, number, number, number];
    const edges: FewShotEdgeView[] = [];
    for (let k = 0; k < nEdges; k++) {
      const v = report[`${FEWSHOT_REPORT_PREFIX}split${i}/edge${k}`];
      if (!Array.isArray(v) || v.length < 3) return null;
      const n = v[2]!;
      const groupOf = v.slice(3, 3 + n);
      const flat = v.slice(3 + n, 3 + n + n * n);
      edges.push({
        position: v[0]!,
        score: v[1]!,
        groups: [groupOf.flatMap((g, c) => (g === 0 ? [c] : [])), groupOf.flatMap((g, c) => (g === 1 ? [c] : []))],
        similarity: Array.from({ length: n }, (_, r) => flat.slice(r * n, (r + 1) * n)),
      });
    }
    out.push({ step, leaf, newLeaf, chosen, edges });
  }
  return out;
}

/** The split tree the splits build, in order (each split turns its leaf into a node over leaf and newLeaf). */
export function fewShotTree(splits: readonly FewShotSplitView[]): FewShotTreeView {
  let tree: FewShotTreeView = { leaf: 0 };
  for (const s of splits) {
    const e = s.edges[s.chosen];
    if (!e) continue;
    const replace = (n: FewShotTreeView): FewShotTreeView =>
      'leaf' in n
        ? n.leaf === s.leaf
          ? { position: e.position, groups: e.groups, children: [{ leaf: s.leaf }, { leaf: s.newLeaf }], step: s.step }
          : n
        : { ...n, children: [replace(n.children[0]), replace(n.children[1])] };
    tree = replace(tree);
  }
  return tree;
}
