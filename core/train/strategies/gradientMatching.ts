/**
 * Gradient matching for few-shot NAS (Hu et al., "Generalizing Few-Shot NAS with Gradient Matching",
 * ICLR 2022; reference code skhu101/GM-NAS, `split_supernet`, `match_loss`, `mincut_split_*`):
 *
 * 1. For every candidate edge (an arch-vector position with ≥ 2 choices, not split on the way to this
 *    leaf), on each of R (batch, random path) draws, fix the rest of the path and switch the edge
 *    through each of its choices; take the gradient of the loss w.r.t. the *shared* weights, i.e. every
 *    weight except the edge's own (the reference's `get_split_gradients`: all parameters but those of
 *    edge `eid`).
 * 2. Distance between two choices = 1 − cosine of their flattened shared-weight gradients, averaged over
 *    the R draws (`match_loss(dis_metric='cos')`).
 * 3. Partition the edge's choices into two groups minimising the summed within-group distance, over the
 *    balanced bipartitions (smaller group ≤ n/2), as `mincut_split` enumerates them.
 * 4. Split at the edge whose choices disagree most across its best partition.
 *
 * Deviations, for spaces whose edges have 2–4 choices (the reference's have 5–7): a group may hold a
 * single choice (the reference asks for ≥ 2, which a 2- or 3-choice edge cannot satisfy), and edges are
 * ranked by the mean cosine similarity across the partition (lowest = most disagreement) instead of the
 * summed within-group distance, which is 0 for every 2-choice edge and so not comparable across edge
 * sizes. The partition itself is the reference's (min within = max across for a fixed edge).
 */
import * as tf from '@tensorflow/tfjs';
import type { Supernet } from '../../nn/types.js';
import { archDims, archPositions, decodeArch } from '../../space/archCodec.js';
import { describeBlock } from '../../space/blocks/registry.js';
import type { Block, SearchSpace } from '../../space/SearchSpace.js';
import { crossEntropy } from '../evaluate.js';

/** One measurement draw: a batch and the path the other edges take. */
export interface MatchDraw {
  x: tf.Tensor;
  y: tf.Tensor1D;
  /** The arch vector of the rest of the path (the measured position is overwritten). */
  path: readonly number[];
}

export interface EdgeMatch {
  position: number;
  /** The position's label, e.g. "s2.b0.width". */
  label: string;
  /** Choice labels in index order. */
  choices: string[];
  /** [n × n] mean cosine similarity of the choices' shared-weight gradients. */
  similarity: number[][];
  /** Best balanced bipartition of the choice indices (min within-group distance). */
  groups: [number[], number[]];
  /** Mean cross-group cosine similarity of that partition: the lowest edge is split. */
  score: number;
}

/** Arch-vector positions of one block: its op position (when it has op choices) and its numeric dimensions. */
function blockPositionCount(block: Block): number {
  const d = describeBlock(block);
  return (d.ops?.(block) ? 1 : 0) + d.dims(block).length;
}

/**
 * For each position, the stable-name prefixes of the variables it decides (its own weights, left out of
 * the shared gradient): a block's choices own the block's variables; a depth choice owns the blocks
 * beyond the stage's smallest depth.
 */
export function positionOwners(space: SearchSpace): string[][] {
  const out: string[][] = [];
  for (const stage of space.stages) {
    const maxDepth = Math.max(...stage.depth);
    const minDepth = Math.min(...stage.depth);
    out.push(Array.from({ length: maxDepth - minDepth }, (_, i) => `${stage.id}.b${minDepth + i}.`));
    const per = blockPositionCount(stage.block);
    for (let j = 0; j < maxDepth; j++) for (let p = 0; p < per; p++) out.push([`${stage.id}.b${j}.`]);
  }
  return out;
}

/**
 * `path` with position `position` set to `choice` and made to matter: the stage deep enough to keep the
 * block, and the block's op the layer (not a skip) when the position is one of its width/kernel choices.
 */
export function pathWithChoice(space: SearchSpace, path: readonly number[], position: number, choice: number): number[] {
  const v = [...path];
  let o = 0;
  for (const stage of space.stages) {
    const depthPos = o++;
    const per = blockPositionCount(stage.block);
    const d = describeBlock(stage.block);
    const ops = d.ops?.(stage.block);
    const maxDepth = Math.max(...stage.depth);
    if (position === depthPos) {
      v[position] = choice;
      return v;
    }
    for (let j = 0; j < maxDepth; j++) {
      for (let p = 0; p < per; p++, o++) {
        if (o !== position) continue;
        // Deep enough: the smallest depth choice that keeps block j (choices need not be sorted).
        const depth = stage.depth[v[depthPos]!]!;
        if (depth <= j) {
          const deeper = stage.depth.map((d, i) => [d, i] as const).filter(([d]) => d > j).sort((a, b) => a[0] - b[0])[0]!;
          v[depthPos] = deeper[1];
        }
        // A numeric choice of a block with an op position (the first one): make the op the block's main op.
        if (p > 0 && ops) {
          const main = ops.indexOf(d.mainOp);
          if (main >= 0) v[position - p] = main;
        }
        v[position] = choice;
        return v;
      }
    }
  }
  throw new Error(`arch position ${position} is out of range`);
}

/** Balanced bipartition minimising the summed within-group distance (the reference's mincut_split). */
export function bestBipartition(distance: readonly (readonly number[])[]): { groups: [number[], number[]]; within: number } {
  const n = distance.length;
  if (n < 2) throw new Error('a split needs an edge with at least two choices');
  let best: { groups: [number[], number[]]; within: number } | null = null;
  // Subsets containing choice 0 are enough: a partition and its mirror are the same split.
  for (let mask = 1; mask < 1 << n; mask += 2) {
    const a = [...Array(n).keys()].filter((i) => mask & (1 << i));
    const b = [...Array(n).keys()].filter((i) => !(mask & (1 << i)));
    if (b.length === 0 || Math.min(a.length, b.length) > n / 2) continue;
    let within = 0;
    for (const g of [a, b]) for (let i = 0; i < g.length; i++) for (let j = i + 1; j < g.length; j++) within += distance[g[i]!]![g[j]!]!;
    if (!best || within < best.within - 1e-12) best = { groups: [a, b], within };
  }
  return best!;
}

/** Mean cosine similarity between choices in different groups. */
export function crossSimilarity(similarity: readonly (readonly number[])[], groups: readonly [readonly number[], readonly number[]]): number {
  let s = 0;
  for (const i of groups[0]) for (const j of groups[1]) s += similarity[i]![j]!;
  return s / (groups[0].length * groups[1].length);
}

/** Positions a leaf may split at: ≥ 2 choices, not already split on its path. */
export function candidatePositions(space: SearchSpace, exclude: readonly number[] = []): number[] {
  return archDims(space).flatMap((n, i) => (n >= 2 && !exclude.includes(i) ? [i] : []));
}

/**
 * Measure every candidate edge on `draws` (the gradients of `net`, the leaf's own supernet) and return
 * them, the edge to split first (lowest score). Gradients stay on the device; one read per draw.
 */
export async function matchEdges(space: SearchSpace, net: Supernet, draws: readonly MatchDraw[], candidates: readonly number[]): Promise<EdgeMatch[]> {
  const positions = archPositions(space);
  const owners = positionOwners(space);
  const named = [...net.namedVariables()].filter(([, v]) => v.trainable);
  const out: EdgeMatch[] = [];
  for (const position of candidates) {
    const n = positions[position]!.choices.length;
    const own = owners[position]!;
    const shared = named.filter(([name]) => !own.some((p) => name.startsWith(p))).map(([, v]) => v);
    const sum = Array.from({ length: n }, () => new Array<number>(n).fill(0));
    for (const d of draws) {
      const gram = tf.tidy(() => {
        const flat = Array.from({ length: n }, (_, c) => {
          const arch = decodeArch(space, pathWithChoice(space, d.path, position, c));
          const { value, grads } = tf.variableGrads(() => {
            const o = net.apply(d.x, arch, { training: true, progress: 0 });
            return tf.add(crossEntropy(o.logits, d.y), o.auxLoss) as tf.Scalar;
          }, shared);
          value.dispose();
          // A shared variable off this choice's path has a zero gradient (absent from `grads`).
          return tf.concat(shared.map((v) => (grads[v.name] ?? tf.zerosLike(v)).reshape([-1])));
        });
        const m = tf.stack(flat) as tf.Tensor2D;
        return tf.matMul(m, m, false, true);
      });
      const g = await gram.data();
      gram.dispose();
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < n; j++) {
          const den = Math.sqrt(g[i * n + i]! * g[j * n + j]!);
          // The reference's 1e-6 guard: a zero gradient is orthogonal to everything.
          sum[i]![j]! += g[i * n + j]! / (den + 1e-6);
        }
      }
    }
    const similarity = sum.map((row) => row.map((s) => s / draws.length));
    const { groups } = bestBipartition(similarity.map((row) => row.map((s) => 1 - s)));
    out.push({ position, label: positions[position]!.label, choices: positions[position]!.choices, similarity, groups, score: crossSimilarity(similarity, groups) });
  }
  return out;
}

/** The edge to split: the lowest cross-group similarity (ties: the earliest position). */
export function edgeToSplit(edges: readonly EdgeMatch[]): EdgeMatch {
  if (edges.length === 0) throw new Error('no edge left to split');
  return edges.reduce((best, e) => (e.score < best.score ? e : best));
}
