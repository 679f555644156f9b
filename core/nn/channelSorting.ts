/**
 * Channel sorting by importance before shrinking widths (Once-for-All, Cai et al. 2020, §3.2 "elastic
 * width"; mit-han-lab/once-for-all `re_organize_middle_weights`): a channel's importance is the L1 norm of
 * the weights that read it in the next layer, and the channels are reordered most important first, so a
 * subnet that keeps the first w channels keeps the w most important ones.
 *
 * OFA sorts the expanded channels inside an inverted bottleneck, which no shortcut touches. Here a dense or
 * conv block's output channels are the stream itself, so every layer that may produce the same stream must
 * take the same order: the stage input and the outputs of blocks that an identity op or a shallower depth
 * can put in front of the same consumer, and a residual block's input and output. Those channel groups are
 * found with a union–find over the space's producer/consumer relation; a group's importance is summed over
 * all its consumers (the head included). Groups that reach the network input, an MoE (or any other) block,
 * or whose producers differ in their largest width are left as they are. A permutation of one group is a
 * relabelling of hidden units, so the largest subnet computes exactly the same function after sorting.
 *
 * Works on the stable variable names (core/nn/Supernet.ts): "<stage>.b<j>.dense.kernel|bias",
 * "<stage>.b<j>.conv.kernel|bias", "<stage>.b<j>.bn.*", "head.kernel".
 */
import * as tf from '@tensorflow/tfjs';
import type { SearchSpace } from '../space/SearchSpace.js';
import type { ChannelAxis, ChannelLayout } from './blocks/block.js';
import { elasticBlockOf } from './blocks/registry.js';

/** Reorder `variable` along `axis`: new index i holds old index perm[i]. */
export interface ChannelPermutation {
  variable: string;
  axis: number;
  perm: number[];
}

export interface ChannelGroup {
  /** Layers whose output channels form this group ("<stage>.b<j>"). */
  producers: string[];
  /** Layers reading them ("head" for the classifier). */
  consumers: string[];
  /** Per channel (old order), the summed L1 norm of the consumers' weights on it. */
  importance: number[];
  /** Most important first. */
  perm: number[];
}

const INPUT = '<input>';
const HEAD = 'head';

class UnionFind {
  private readonly parent = new Map<string, string>();
  find(a: string): string {
    let p = this.parent.get(a) ?? a;
    if (p !== a) {
      p = this.find(p);
      this.parent.set(a, p);
    }
    return p;
  }
  union(a: string, b: string) {
    const ra = this.find(a);
    const rb = this.find(b);
    if (ra !== rb) this.parent.set(ra, rb);
  }
}

interface Node {
  id: string;
  /** The block module's channel layout (./blocks/block.ts); null: its streams stay unsorted. */
  channels: ChannelLayout | null;
  inputs: string[];
}

/** The head: its kernel reads the last stream on axis 0. */
const HEAD_LAYOUT: ChannelLayout = { inputKernel: () => ({ name: 'head.kernel', axis: 0 }), outputs: () => [], residual: () => false };

/** Producers and consumers of the space's streams, in forward order. */
function streamGraph(space: SearchSpace): { nodes: Node[]; headInputs: string[]; uf: UnionFind; fixed: Set<string> } {
  const uf = new UnionFind();
  const fixed = new Set<string>([INPUT]);
  const nodes: Node[] = [];
  let cands = [INPUT];
  for (const stage of space.stages) {
    const b = stage.block;
    const channels = elasticBlockOf(b).channels ?? null;
    const ops = 'ops' in b ? (b.ops as readonly string[]) : [];
    const maxDepth = Math.max(...stage.depth);
    const after: string[][] = [];
    let cur = cands;
    for (let j = 0; j < maxDepth; j++) {
      const id = `${stage.id}.b${j}`;
      nodes.push({ id, channels, inputs: cur });
      for (const c of cur) uf.union(c, cur[0]!);
      // A residual add (dense, equal widths) or a block without a channel layout (MoE keeps its input width) ties output to input.
      if (!channels || channels.residual(b)) uf.union(id, cur[0]!);
      if (!channels) fixed.add(id);
      cur = ops.includes('identity') ? [...cur, id] : [id];
      after.push(cur);
    }
    cands = [...new Set(stage.depth.flatMap((d) => after[d - 1]!))];
  }
  for (const c of cands) uf.union(c, cands[0]!);
  return { nodes, headInputs: cands, uf, fixed };
}

/** The input-side kernel of a consumer and the axis its input channels lie on. */
function inputKernel(id: string, channels: ChannelLayout | null): ChannelAxis | null {
  return channels ? channels.inputKernel(id) : null;
}

/** Every output-side variable of a producer the supernet holds (its kernel first) and the axis its output channels lie on. */
function outputVariables(id: string, channels: ChannelLayout | null, vars: ReadonlyMap<string, tf.Variable>): ChannelAxis[] {
  return (channels?.outputs(id) ?? []).filter((o) => vars.has(o.name));
}

/** L1 norm of a kernel's weights per index along `axis`. */
function l1Along(v: tf.Tensor, axis: number): number[] {
  return tf.tidy(() => {
    const others = v.shape.map((_, i) => i).filter((i) => i !== axis);
    return Array.from(tf.sum(tf.abs(v), others).dataSync());
  });
}

/** The channel groups of a supernet and their importance order (nothing is changed). */
export function channelGroups(space: SearchSpace, vars: ReadonlyMap<string, tf.Variable>): ChannelGroup[] {
  const { nodes, headInputs, uf, fixed } = streamGraph(space);
  const layoutOf = new Map(nodes.map((n) => [n.id, n.channels] as const));
  const byRoot = new Map<string, { producers: Set<string>; consumers: { id: string; channels: ChannelLayout | null }[] }>();
  const entry = (root: string) => {
    let e = byRoot.get(root);
    if (!e) byRoot.set(root, (e = { producers: new Set(), consumers: [] }));
    return e;
  };
  const consumers: Node[] = [...nodes, { id: HEAD, channels: HEAD_LAYOUT, inputs: headInputs }];
  for (const c of consumers) {
    const e = entry(uf.find(c.inputs[0]!));
    for (const p of c.inputs) e.producers.add(p);
    e.consumers.push({ id: c.id, channels: c.channels });
  }
  const fixedRoots = new Set([...fixed].map((f) => uf.find(f)));
  const groups: ChannelGroup[] = [];
  for (const [root, e] of byRoot) {
    if (fixedRoots.has(root)) continue;
    const producers = [...e.producers];
    const widths = producers.map((p) => {
      const kernel = outputVariables(p, layoutOf.get(p)!, vars)[0];
      return kernel ? vars.get(kernel.name)!.shape[kernel.axis]! : -1;
    });
    if (widths.some((w) => w !== widths[0] || w < 0)) continue;
    const importance = new Array<number>(widths[0]!).fill(0);
    for (const c of e.consumers) {
      const k = inputKernel(c.id, c.channels);
      const v = k && vars.get(k.name);
      if (!k || !v) continue;
      l1Along(v, k.axis).forEach((x, i) => (importance[i]! += x));
    }
    // Stable: equal importance keeps the old order.
    const perm = importance.map((_, i) => i).sort((a, b) => importance[b]! - importance[a]! || a - b);
    groups.push({ producers, consumers: e.consumers.map((c) => c.id), importance, perm });
  }
  return groups;
}

/** The variable reorderings that sort every group (producers' outputs, consumers' inputs). */
export function channelSortPermutations(space: SearchSpace, vars: ReadonlyMap<string, tf.Variable>): ChannelPermutation[] {
  const layoutOf = new Map<string, ChannelLayout | null>([...streamGraph(space).nodes.map((n) => [n.id, n.channels] as const), [HEAD, HEAD_LAYOUT]]);
  const out: ChannelPermutation[] = [];
  for (const g of channelGroups(space, vars)) {
    if (g.perm.every((p, i) => p === i)) continue;
    for (const p of g.producers) for (const o of outputVariables(p, layoutOf.get(p)!, vars)) out.push({ variable: o.name, axis: o.axis, perm: g.perm });
    for (const c of g.consumers) {
      const k = inputKernel(c, layoutOf.get(c) ?? null);
      if (k && vars.has(k.name)) out.push({ variable: k.name, axis: k.axis, perm: g.perm });
    }
  }
  return out;
}

/** Apply reorderings to the supernet's variables by name. */
export function permuteVariables(vars: ReadonlyMap<string, tf.Variable>, perms: readonly ChannelPermutation[]): void {
  for (const p of perms) {
    const v = vars.get(p.variable);
    if (!v) throw new Error(`channel sorting: no variable "${p.variable}"`);
    permuteTensor(v, p);
  }
}

/** Reorder one variable in place (a weight, or an optimizer slot of the same shape). */
export function permuteTensor(v: tf.Variable, p: Pick<ChannelPermutation, 'axis' | 'perm'>): void {
  tf.tidy(() => v.assign(tf.gather(v, tf.tensor1d(p.perm, 'int32'), p.axis)));
}
