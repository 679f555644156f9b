/**
 * A supernet split into sub-supernets (few-shot NAS, Zhao et al. 2021; with gradient matching, Hu et al.
 * ICLR 2022): a binary split tree over arch-vector positions ("edges") whose leaves each own a full copy
 * of the supernet's weights. A subnet is trained, scored and exported with the copy of the leaf its
 * choices fall in, so subnets that disagree at a split edge stop sharing weights.
 *
 * The copies are allocated up front (`leaves`, the split budget) and built from one seed, so a fresh
 * network has identical copies; until a split, only leaf 0 is routed to. `split` turns a leaf into an
 * internal node whose first group keeps the leaf's copy and whose second group gets a free copy, into
 * which the leaf's current weights (BatchNorm statistics included) are copied: both sub-supernets start
 * from the warmed-up weights, as in the reference (skhu101/GM-NAS, `split_supernet` then
 * `load_state_dict` of the parent into each child).
 *
 * Routing reads the canonical arch vector (core/space/archCodec.ts): a position that decides nothing for
 * a subnet (a block beyond its depth, the width of a skipped block) is 0 there, so such a subnet goes to
 * the group that holds choice 0.
 *
 * Variable names (core/nn/SupernetCopies.ts): copy k ≥ 1 prefixes the plain names with `fewshot<k>/`.
 */
import * as tf from '@tensorflow/tfjs';
import { canonicalVector, encodeArch } from '../space/archCodec.js';
import type { Arch, SearchSpace } from '../space/SearchSpace.js';
import type { SupernetOptions } from './Supernet.js';
import { SupernetCopies } from './SupernetCopies.js';

/** A leaf (the index of the weight copy it owns) or a split at one arch-vector position. */
export type SplitTree = { leaf: number } | { position: number; groups: [number[], number[]]; children: [SplitTree, SplitTree] };

export interface FewShotSupernetOptions extends SupernetOptions {
  /** Weight copies allocated (the most sub-supernets the splits may make). */
  leaves: number;
  /** The split tree (from a checkpoint); default: one leaf, copy 0. */
  tree?: SplitTree;
}

/** The leaf a canonical arch vector falls in. */
export function leafOf(tree: SplitTree, vec: readonly number[]): number {
  let node = tree;
  while (!('leaf' in node)) node = node.groups[0].includes(vec[node.position] ?? 0) ? node.children[0] : node.children[1];
  return node.leaf;
}

/** Every leaf of a tree, left to right. */
export function treeLeaves(tree: SplitTree): number[] {
  return 'leaf' in tree ? [tree.leaf] : [...treeLeaves(tree.children[0]), ...treeLeaves(tree.children[1])];
}

export class FewShotSupernet extends SupernetCopies {
  private treeRoot: SplitTree;

  constructor(space: SearchSpace, opts: FewShotSupernetOptions) {
    if (!Number.isInteger(opts.leaves) || opts.leaves < 1) throw new Error(`few-shot supernet: leaves must be a positive integer, got ${opts.leaves}`);
    // One seed for every copy: a copy is filled from its parent leaf when it comes into use.
    super(space, Array.from({ length: opts.leaves }, () => opts.seed ?? 1), 'fewshot');
    this.treeRoot = opts.tree ? structuredClone(opts.tree) : { leaf: 0 };
    for (const l of treeLeaves(this.treeRoot)) {
      if (!(l >= 0 && l < opts.leaves)) throw new Error(`few-shot split tree names copy ${l}; the supernet has ${opts.leaves}`);
    }
  }

  get tree(): SplitTree {
    return structuredClone(this.treeRoot);
  }

  /** The copy index that holds `arch`'s weights. */
  leafFor(arch: Arch): number {
    return leafOf(this.treeRoot, canonicalVector(this.space, encodeArch(this.space, arch)));
  }

  copyFor(arch: Arch): number {
    return this.leafFor(arch);
  }

  /**
   * Split `leaf` at `position`: choices in `groups[0]` keep the leaf's copy, those in `groups[1]` move to
   * a free copy that receives the leaf's current weights. Returns the new copy's index.
   */
  split(leaf: number, position: number, groups: [number[], number[]]): number {
    const used = new Set(treeLeaves(this.treeRoot));
    if (!used.has(leaf)) throw new Error(`few-shot split: copy ${leaf} is not a leaf of the split tree`);
    const free = this.copies.findIndex((_, k) => !used.has(k));
    if (free < 0) throw new Error(`few-shot split: all ${this.copies.length} weight copies are in use`);
    const src = this.copies[leaf]!.namedVariables();
    const dst = this.copies[free]!.namedVariables();
    tf.tidy(() => {
      for (const [name, v] of src) dst.get(name)!.assign(tf.clone(v));
    });
    const replace = (node: SplitTree): SplitTree => {
      if ('leaf' in node) return node.leaf === leaf ? { position, groups: [[...groups[0]], [...groups[1]]], children: [{ leaf }, { leaf: free }] } : node;
      return { ...node, children: [replace(node.children[0]), replace(node.children[1])] };
    };
    this.treeRoot = replace(this.treeRoot);
    return free;
  }
}
