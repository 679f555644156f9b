/**
 * Few-shot NAS with gradient matching (Hu et al., ICLR 2022, "Generalizing Few-Shot NAS with Gradient
 * Matching"; reference code skhu101/GM-NAS): single-path uniform training (the GM + RSPS setting) of a
 * supernet that, after warm-up, is split at the edge whose choices' shared-weight gradients disagree
 * most (core/train/strategies/gradientMatching.ts) into two sub-supernets that each own a copy of the
 * weights (core/nn/FewShotSupernet.ts); every leaf splits again at the next split point. A subnet trains,
 * validates, is searched, ranked and exported in the leaf that holds its choices.
 *
 * Defaults: splits at 40 % and 80 % of training (the reference's NAS-Bench-201 GM + RSPS run splits at
 * epochs 20 and 40 of 50, `--split_ckpts 20,40`), two groups per split, so up to four sub-supernets.
 * Deviation: the gradients are averaged over 10 (batch, path) draws per edge, the reference's `--fast`
 * count, not its 100; the draws use the run's batch size and the sampler RNG.
 * Deviation: the copy that keeps the parent's weights keeps its optimizer moments; the new copy starts
 * with fresh ones (the reference builds a fresh optimizer per sub-supernet).
 */
import * as tf from '@tensorflow/tfjs';
import { FewShotSupernet, leafOf, treeLeaves, type SplitTree } from '../../nn/FewShotSupernet.js';
import { encodeFewShotSplits } from '../../protocol/fewShotReport.js';
import type { Supernet } from '../../nn/types.js';
import { archDims, canonicalVector, encodeArch, sampleArch } from '../../space/archCodec.js';
import type { Rng } from '../../space/rng.js';
import type { SearchSpace } from '../../space/SearchSpace.js';
import { candidatePositions, edgeToSplit, matchEdges, pathWithChoice, type EdgeMatch } from './gradientMatching.js';
import { measurementBatches, type MeasurementBatch } from './measurementBatches.js';
import { defineStrategy } from './TrainingStrategy.js';

/** Training progress at which every leaf splits once. */
export const FEWSHOT_SPLIT_AT = [0.4, 0.8] as const;
/** (batch, path) draws the gradient similarity is averaged over. */
export const FEWSHOT_MATCH_DRAWS = 10;
/** Weight copies: two groups per split, every leaf splitting at each split point. */
export const FEWSHOT_LEAVES = 2 ** FEWSHOT_SPLIT_AT.length;

/** One split, kept for the run's view (split tree and gradient-similarity matrices). */
export interface FewShotSplit {
  step: number;
  /** The copy that was split, and the copy its second group moved to. */
  leaf: number;
  newLeaf: number;
  /** Every edge measured, with its similarity matrix, best partition and score; `chosen` indexes it. */
  edges: EdgeMatch[];
  chosen: number;
}

export interface FewShotState {
  tree: SplitTree;
  /** Split points passed so far (index into FEWSHOT_SPLIT_AT). */
  splitsDone: number;
  splits: FewShotSplit[];
}

/** The positions split on the way from the root to `leaf`. */
export function pathPositions(tree: SplitTree, leaf: number): number[] | null {
  if ('leaf' in tree) return tree.leaf === leaf ? [] : null;
  for (const c of tree.children) {
    const p = pathPositions(c, leaf);
    if (p) return [tree.position, ...p];
  }
  return null;
}

/** Draws of a path inside `leaf` (uniform subnets, rejected until one falls in it); null when none does. */
function leafPath(space: SearchSpace, tree: SplitTree, leaf: number, rng: Rng): number[] | null {
  for (let i = 0; i < 1000; i++) {
    const v = encodeArch(space, sampleArch(space, rng));
    if (leafOf(tree, canonicalVector(space, v)) === leaf) return v;
  }
  return null;
}

/**
 * Split every leaf once: measure its candidate edges on its own copy, with paths inside the leaf (the
 * reference samples within the sub-supernet's remaining choices), and split at the lowest-scoring edge.
 * A position is a candidate of a leaf when every choice of it, made to matter, keeps the path in the leaf
 * (a leaf of skipped blocks cannot split at their widths). Returns the splits made.
 */
export async function splitLeaves(net: FewShotSupernet, batches: readonly MeasurementBatch[], rng: Rng, step: number): Promise<FewShotSplit[]> {
  const out: FewShotSplit[] = [];
  const space = net.space;
  const dims = archDims(space);
  for (const leaf of treeLeaves(net.tree)) {
    const tree = net.tree;
    const paths = batches.map(() => leafPath(space, tree, leaf, rng));
    if (paths.some((p) => p === null)) continue;
    const draws = batches.map((b, i) => ({ ...b, path: paths[i]! }));
    const inLeaf = (v: number[]) => leafOf(tree, canonicalVector(space, v)) === leaf;
    const candidates = candidatePositions(space, pathPositions(tree, leaf) ?? []).filter((pos) =>
      draws.every((d) => Array.from({ length: dims[pos]! }, (_, c) => c).every((c) => inLeaf(pathWithChoice(space, d.path, pos, c)))),
    );
    if (candidates.length === 0) continue;
    const edges = await matchEdges(space, net.copies[leaf]!, draws, candidates);
    const best = edgeToSplit(edges);
    const newLeaf = net.split(leaf, best.position, best.groups);
    out.push({ step, leaf, newLeaf, edges, chosen: edges.indexOf(best) });
  }
  return out;
}

function asFewShot(net: Supernet): FewShotSupernet {
  if (!(net instanceof FewShotSupernet)) throw new Error("strategy 'fewshot' needs the supernet its buildNet makes (a FewShotSupernet)");
  return net;
}

export const fewshot = defineStrategy<FewShotState>({
  name: 'fewshot',
  paper: 'Hu et al., Generalizing Few-Shot NAS with Gradient Matching (ICLR 2022); Zhao et al., Few-shot Neural Architecture Search (ICML 2021)',
  buildNet: (space, seed, state) => new FewShotSupernet(space, { seed, leaves: FEWSHOT_LEAVES, tree: state?.tree }),
  init: () => ({ tree: { leaf: 0 }, splitsDone: 0, splits: [] }),
  async beforeStep(ctx, { net, train, inputShape, batchSize }) {
    const s = ctx.state;
    if (s.splitsDone >= FEWSHOT_SPLIT_AT.length || ctx.progress < FEWSHOT_SPLIT_AT[s.splitsDone]!) return;
    const fs = asFewShot(net);
    const batches = measurementBatches(train, inputShape, batchSize, ctx.rng, FEWSHOT_MATCH_DRAWS);
    try {
      s.splits.push(...(await splitLeaves(fs, batches, ctx.rng, ctx.step)));
    } finally {
      for (const b of batches) tf.dispose([b.x, b.y]);
    }
    s.tree = fs.tree;
    s.splitsDone++;
  },
  plan: ({ space, rng }) => ({ arches: [sampleArch(space, rng)], reported: 0 }),
  report: ({ state }) => ({
    subSupernets: treeLeaves(state.tree).length,
    ...encodeFewShotSplits(state.splits.map((s) => ({ ...s, edges: s.edges.map((e) => ({ position: e.position, score: e.score, groups: e.groups, similarity: e.similarity })) }))),
  }),
});
