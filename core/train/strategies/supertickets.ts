/**
 * SuperTickets (You et al., ECCV 2022, "SuperTickets: Drawing Task-Agnostic Lottery Tickets from Supernets
 * via Jointly Architecture Searching and Parameter Pruning"): the supernet is pruned by weight magnitude
 * while it trains, progressively, and pruned weights may regrow, so the connectivity keeps changing during
 * supernet training (the paper's progressive-and-unified identification); every subnet then inherits its
 * sparse lottery ticket — the supernet's mask sliced with its weights.
 *
 * - Subnets: one drawn uniformly per step (SPOS, as the other one-shot strategies here).
 * - Masks cover every weight matrix a subnet slices (dense and conv kernels, MoE expert matrices, the head
 *   kernel); biases, BatchNorm and routers stay dense. A pruned weight is exactly zero and gets no gradient
 *   (`adjustGradients`), so the lazy optimizer (core/train/PathOptimizer.ts) never moves it: the mask is in
 *   force wherever the kernel is sliced — training, validation, search, ranking and export (the exported
 *   subnet is its ticket, zeros included).
 * - Schedule: PRUNE_EVENTS prune events evenly between 20 % and 70 % of training, each raising the
 *   sparsity of every matrix along the gradual-pruning curve s_e = s_f · (1 − (1 − e/E)³) (Zhu & Gupta,
 *   2017) to s_f = TARGET_SPARSITY, so the last 30 % of training fine-tunes the final ticket.
 * - Prune and regrow at each event: keep the largest-|w| weights except R = REGROW_FRACTION · (weights to
 *   prune); of the rest, regrow the R whose loss gradient is largest in magnitude (the RigL criterion,
 *   Evci et al. 2020), measured on one batch through the largest subnet, which touches every weight of the
 *   supernet. A regrown weight that was pruned restarts at zero (RigL).
 * Deviations (the paper's code was not available here): the pruning is per matrix rather than global, the
 * schedule and the regrowth criterion are the standard ones named above, and only weights are pruned
 * (the paper also prunes DARTS operations; here the subnet search is the supernet's own).
 */
import * as tf from '@tensorflow/tfjs';
import type { Supernet } from '../../nn/types.js';
import { largestArch, sampleArch } from '../../space/archCodec.js';
import { crossEntropy } from '../evaluate.js';
import { measurementBatches } from './measurementBatches.js';
import { defineStrategy } from './TrainingStrategy.js';

export const TARGET_SPARSITY = 0.5;
export const PRUNE_EVENTS = 6;
export const PRUNE_START = 0.2;
export const PRUNE_END = 0.7;
export const REGROW_FRACTION = 0.1;

/** The weight matrices that carry a mask. */
export const PRUNABLE = /(\.(dense|conv)\.kernel|^head\.kernel|\.moe\.(e|shared)\d+\.w[12])$/;

export interface SuperTicketsState {
  /** Prune events done so far. */
  events: number;
  /** Per pruned matrix, its shape and mask as a base64 bitset (1 = kept), row-major; empty before the first event. */
  masks: Record<string, { shape: number[]; bits: string }>;
  /** Overall sparsity of the masked matrices after each event, and the weights regrown there. */
  history: { step: number; sparsity: number; regrown: number }[];
}

/** Sparsity after event e (1-based) of E. */
export function sparsityAt(e: number, events = PRUNE_EVENTS, target = TARGET_SPARSITY): number {
  return target * (1 - (1 - e / events) ** 3);
}

/** Progress at which event e (0-based) happens. */
export function eventProgress(e: number, events: number = PRUNE_EVENTS): number {
  return events === 1 ? PRUNE_START : PRUNE_START + ((PRUNE_END - PRUNE_START) * e) / (events - 1);
}

export function encodeMask(bits: ArrayLike<number>): string {
  const bytes = new Uint8Array(Math.ceil(bits.length / 8));
  for (let i = 0; i < bits.length; i++) if (bits[i]) bytes[i >> 3]! |= 1 << (i & 7);
  return Buffer.from(bytes).toString('base64');
}

export function decodeMask(s: string, n: number): Float32Array {
  const bytes = Buffer.from(s, 'base64');
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (bytes[i >> 3]! >> (i & 7)) & 1;
  return out;
}

/**
 * The new mask of one matrix: keep the n − P − R largest |w|, then regrow the R largest |g| of the rest,
 * P = round(sparsity · n), R = round(regrow · (P − already pruned)) (at least 0). Ties go to the lower index.
 */
export function pruneAndRegrow(w: ArrayLike<number>, g: ArrayLike<number>, sparsity: number, alreadyPruned: number, regrow = REGROW_FRACTION): { mask: Uint8Array; regrown: number } {
  const n = w.length;
  const P = Math.round(sparsity * n);
  const R = Math.max(0, Math.min(P, Math.round(regrow * Math.max(0, P - alreadyPruned))));
  const byMag = Array.from({ length: n }, (_, i) => i).sort((a, b) => Math.abs(w[b]!) - Math.abs(w[a]!) || a - b);
  const mask = new Uint8Array(n);
  for (let k = 0; k < n - P - R; k++) mask[byMag[k]!] = 1;
  const rest = byMag.slice(n - P - R).sort((a, b) => Math.abs(g[b]!) - Math.abs(g[a]!) || a - b);
  for (let k = 0; k < R; k++) mask[rest[k]!] = 1;
  return { mask, regrown: R };
}

type Masks = SuperTicketsState['masks'];
const sizeOf = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** Decoded masks as tensors, cached per masks object (a prune event or a resume replaces the object). */
let maskCache: { key: Masks; tensors: Map<string, tf.Tensor> } | null = null;
function maskTensors(masks: Masks): Map<string, tf.Tensor> {
  if (maskCache?.key === masks) return maskCache.tensors;
  if (maskCache) tf.dispose([...maskCache.tensors.values()]);
  const tensors = new Map<string, tf.Tensor>();
  for (const [name, m] of Object.entries(masks)) tensors.set(name, tf.tensor(decodeMask(m.bits, sizeOf(m.shape)), m.shape));
  maskCache = { key: masks, tensors };
  return tensors;
}

async function pruneEvent(net: Supernet, state: SuperTicketsState, x: tf.Tensor, y: tf.Tensor1D, step: number): Promise<void> {
  const named = [...net.namedVariables()].filter(([name, v]) => v.trainable && PRUNABLE.test(name));
  const vars = named.map(([, v]) => v);
  // The regrowth signal: the dense loss gradient of the largest subnet (every weight on its path).
  const { value, grads } = tf.variableGrads(() => {
    const out = net.apply(x, largestArch(net.space), { training: true, progress: 1 });
    return tf.add(crossEntropy(out.logits, y), out.auxLoss) as tf.Scalar;
  }, vars);
  value.dispose();
  const sparsity = sparsityAt(state.events + 1);
  const masks: Masks = {};
  let pruned = 0;
  let total = 0;
  let regrown = 0;
  for (const [name, v] of named) {
    const w = await v.data();
    const g = grads[v.name] ? await grads[v.name]!.data() : new Float32Array(v.size);
    const before = state.masks[name] ? decodeMask(state.masks[name]!.bits, v.size) : null;
    const already = before ? before.reduce((s, b) => s + (1 - b), 0) : 0;
    const r = pruneAndRegrow(w, g, sparsity, already);
    masks[name] = { shape: v.shape.slice(), bits: encodeMask(r.mask) };
    regrown += r.regrown;
    total += v.size;
    pruned += r.mask.reduce((s, b) => s + (1 - b), 0);
    tf.tidy(() => v.assign(tf.mul(v, tf.tensor(Float32Array.from(r.mask), v.shape))));
  }
  tf.dispose(Object.values(grads));
  state.masks = masks;
  state.events++;
  state.history.push({ step, sparsity: total ? pruned / total : 0, regrown });
}

export const supertickets = defineStrategy<SuperTicketsState>({
  name: 'supertickets',
  paper: 'You et al., SuperTickets: Drawing Task-Agnostic Lottery Tickets from Supernets via Jointly Architecture Searching and Parameter Pruning (ECCV 2022)',
  init: () => ({ events: 0, masks: {}, history: [] }),
  async beforeStep(ctx, { net, train, inputShape, batchSize }) {
    const s = ctx.state;
    if (s.events >= PRUNE_EVENTS || ctx.progress < eventProgress(s.events)) return;
    const [b] = measurementBatches(train, inputShape, batchSize, ctx.rng, 1);
    try {
      await pruneEvent(net, s, b!.x, b!.y, ctx.step);
    } finally {
      tf.dispose([b!.x, b!.y]);
    }
  },
  plan: ({ space, rng }) => ({ arches: [sampleArch(space, rng)], reported: 0 }),
  adjustGradients(grads, { state }) {
    if (Object.keys(state.masks).length === 0) return grads;
    const out = new Map(grads);
    const masks = maskTensors(state.masks);
    for (const [name, g] of grads) {
      const m = masks.get(name);
      if (m) out.set(name, tf.mul(g, m));
    }
    return out;
  },
  report: ({ state }) => ({ sparsity: state.history.at(-1)?.sparsity ?? 0, pruneEvents: state.events }),
});
