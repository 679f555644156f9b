/**
 * DARTS with perturbation-based selection and self-distillation, on the relaxed supernet of
 * core/nn/DartsSupernet.ts (mixed ops: core/nn/mixedForward.ts).
 *
 * 1. Search (the first SEARCH_END of training): first-order bilevel optimisation (Liu et al., ICLR 2019,
 *    §2.3 with ξ = 0): each step one Adam step on α with a batch of the architecture half of the training
 *    samples (lr 3·10⁻⁴, β = (0.5, 0.999), weight decay 10⁻³: DARTS's arch optimiser), then the trainer's
 *    step on the weights with a batch of the weights half. SD-DARTS (Zhu et al., 2023): the weight loss adds
 *    λ · KD from the previous step's supernet, the soft cross-entropy to its detached softmax on the same
 *    batch (λ = 1, T = 1, one teacher).
 * 2. Selection (the rest of training), DARTS-PT (Wang et al., ICLR 2021, "Rethinking Architecture Selection
 *    in Differentiable NAS"): the edges (positions with ≥ 2 choices) in a random order, evenly spaced; at each,
 *    score the supernet's validation accuracy with each choice of the edge removed (its weight zeroed), keep
 *    the choice whose removal hurts most, make the edge one-hot, and fine-tune the weights (α frozen) until
 *    the next edge. Once every edge is decided, training continues on the derived subnet itself.
 * Deviations: the accuracies are measured on SELECT_BATCHES batches of the architecture half, not the whole
 * validation queue; SD-DARTS's voting over several previous supernets uses one; the relaxation's own
 * deviations are in core/nn/mixedForward.ts.
 */
import * as tf from '@tensorflow/tfjs';
import { DartsSupernet, type RemovedChoice } from '../../nn/DartsSupernet.js';
import type { Supernet } from '../../nn/types.js';
import { encodeDartsEdges } from '../../protocol/dartsReport.js';
import { archDims, decodeArch } from '../../space/archCodec.js';
import type { Arch, SearchSpace } from '../../space/SearchSpace.js';
import { correctCount, crossEntropy } from '../evaluate.js';
import { softCrossEntropy } from './distillation.js';
import { measurementBatches, weightHalfBatch, type MeasurementBatch } from './measurementBatches.js';
import { defineStrategy, type StrategyContext } from './TrainingStrategy.js';

export const SEARCH_END = 0.5;
export const ARCH_LR = 3e-4;
export const ARCH_BETAS: readonly [number, number] = [0.5, 0.999];
export const ARCH_WEIGHT_DECAY = 1e-3;
const ARCH_EPS = 1e-8;
export const SD_WEIGHT = 1;
export const SELECT_BATCHES = 4;

export interface DartsSelection {
  step: number;
  position: number;
  /** Accuracy of the supernet before removing anything, and with each choice removed (−1: already out). */
  base: number;
  without: number[];
  chosen: number;
}

export interface DartsState {
  /** Adam steps taken on α. */
  alphaSteps: number;
  /** Decided choice per position (null: still mixed). */
  fixed: (number | null)[];
  /** The order edges are decided in (drawn when the search ends). */
  order: number[];
  selections: DartsSelection[];
  /** softmax(α) per position after the last α step (for the run view). */
  weights: number[][];
}

export function asDarts(net: Supernet): DartsSupernet {
  if (!(net instanceof DartsSupernet)) throw new Error("strategy 'darts' needs the supernet its buildNet makes (a DartsSupernet)");
  return net;
}

/** Edges to decide: positions with two or more choices. */
export const dartsEdges = (space: SearchSpace): number[] => archDims(space).flatMap((n, p) => (n >= 2 ? [p] : []));

/** The subnet α and the decisions derive: each position's decided choice, else its largest α. */
export function derivedArch(space: SearchSpace, fixed: readonly (number | null)[], alpha: readonly (readonly number[])[]): Arch {
  return decodeArch(space, alpha.map((a, p) => fixed[p] ?? a.indexOf(Math.max(...a))));
}

/** One first-order Adam step on α with the validation loss of the relaxed network (torch Adam's L2 weight decay). */
export async function alphaStep(net: DartsSupernet, b: MeasurementBatch, t: number, progress: number): Promise<void> {
  // Only positions with a choice to make: a one-choice position's weight is the constant 1.
  const multi = net.alpha.flatMap((a, p) => (a.shape[0]! >= 2 && net.fixed[p] == null ? [p] : []));
  const f = (...free: tf.Tensor[]) => {
    const alpha = net.alpha.map((a, p) => (multi.includes(p) ? free[multi.indexOf(p)]! : a));
    const out = net.applyMixedWith(b.x, alpha, { training: true, progress });
    return tf.add(crossEntropy(out.logits, b.y), out.auxLoss) as tf.Scalar;
  };
  const { value, grads } = tf.valueAndGrads(f)(multi.map((p) => net.alpha[p]!));
  value.dispose();
  const [b1, b2] = ARCH_BETAS;
  tf.tidy(() => {
    multi.forEach((p, i) => {
      const a = net.alpha[p]!;
      const g = tf.add(grads[i]!, tf.mul(a, ARCH_WEIGHT_DECAY));
      const m = tf.add(tf.mul(net.alphaM[p]!, b1), tf.mul(g, 1 - b1));
      const v = tf.add(tf.mul(net.alphaV[p]!, b2), tf.mul(tf.square(g), 1 - b2));
      net.alphaM[p]!.assign(m);
      net.alphaV[p]!.assign(v);
      const mHat = tf.div(m, 1 - b1 ** t);
      const vHat = tf.div(v, 1 - b2 ** t);
      a.assign(tf.sub(a, tf.mul(ARCH_LR, tf.div(mHat, tf.add(tf.sqrt(vHat), ARCH_EPS)))));
    });
  });
  tf.dispose(grads);
}

/** Accuracy of the relaxed network over `batches` (inference mode), optionally with one choice removed. */
export async function mixedAccuracy(net: DartsSupernet, batches: readonly MeasurementBatch[], removed?: RemovedChoice): Promise<number> {
  let correct = 0;
  let n = 0;
  for (const b of batches) {
    const c = tf.tidy(() => correctCount(net.applyMixedWith(b.x, net.alpha, { training: false, progress: 1 }, removed).logits, b.y));
    correct += (await c.data())[0]!;
    c.dispose();
    n += b.y.shape[0];
  }
  return correct / n;
}

/** Decide `position`: the choice whose removal lowers the accuracy most (ties: the lower index). */
export async function selectEdge(net: DartsSupernet, batches: readonly MeasurementBatch[], position: number): Promise<Omit<DartsSelection, 'step'>> {
  const base = await mixedAccuracy(net, batches);
  const n = net.alpha[position]!.shape[0]!;
  const without: number[] = [];
  for (let c = 0; c < n; c++) without.push(await mixedAccuracy(net, batches, { position, choice: c }));
  const chosen = without.reduce((best, v, c) => (v < without[best]! ? c : best), 0);
  return { position, base, without, chosen };
}

/** Progress at which edge k (0-based) of E is decided. */
export const selectionProgress = (k: number, edges: number): number => SEARCH_END + ((1 - SEARCH_END) * k) / edges;

/** The previous-step supernet's logits for the step's batch, for the loss hook (one per step context). */
const teacherLogits = new WeakMap<StrategyContext<DartsState>, tf.Tensor2D>();

const alphaValues = async (net: DartsSupernet) => Promise.all(net.alpha.map(async (a) => Array.from(await a.data())));

export const darts = defineStrategy<DartsState>({
  name: 'darts',
  paper: 'Liu et al., DARTS (ICLR 2019); Wang et al., Rethinking Architecture Selection in Differentiable NAS (ICLR 2021); Zhu et al., SD-DARTS (2023)',
  buildNet(space, seed, state) {
    const net = new DartsSupernet(space, seed);
    if (state) net.fixed = [...state.fixed];
    return net;
  },
  init: ({ space }) => ({ alphaSteps: 0, fixed: archDims(space).map(() => null), order: [], selections: [], weights: archDims(space).map((n) => new Array<number>(n).fill(1 / n)) }),
  async beforeStep(ctx, { net, train, inputShape, batchSize }) {
    const s = ctx.state;
    const d = asDarts(net);
    d.fixed = [...s.fixed];
    if (ctx.progress < SEARCH_END) {
      const [b] = measurementBatches(train, inputShape, batchSize, ctx.rng, 1, 'architecture');
      try {
        await alphaStep(d, b!, ++s.alphaSteps, ctx.progress);
        s.weights = await Promise.all(
          d.alpha.map(async (a) => {
            const w = tf.softmax(a);
            const v = Array.from(await w.data());
            w.dispose();
            return v;
          }),
        );
      } finally {
        tf.dispose([b!.x, b!.y]);
      }
      return;
    }
    const edges = dartsEdges(ctx.space);
    if (s.order.length === 0 && edges.length > 0) s.order = ctx.rng.shuffle([...edges]);
    const k = s.selections.length;
    if (k >= s.order.length || ctx.progress < selectionProgress(k, s.order.length)) return;
    const batches = measurementBatches(train, inputShape, batchSize, ctx.rng, SELECT_BATCHES, 'architecture');
    try {
      const sel = await selectEdge(d, batches, s.order[k]!);
      s.selections.push({ step: ctx.step, ...sel });
      s.fixed[sel.position] = sel.chosen;
      d.fixed = [...s.fixed];
    } finally {
      for (const b of batches) tf.dispose([b.x, b.y]);
    }
  },
  sampleBatch: (ctx, trainSamples, batchSize) => weightHalfBatch(ctx.rng, trainSamples, batchSize),
  async plan(ctx, batch) {
    const s = ctx.state;
    const d = asDarts(batch!.net);
    if (s.fixed.every((f, p) => f !== null || d.alpha[p]!.shape[0]! < 2)) {
      // Every edge decided: fine-tune the derived subnet itself.
      return { arches: [derivedArch(ctx.space, s.fixed, await alphaValues(d))], reported: 0 };
    }
    if (ctx.progress < SEARCH_END) {
      teacherLogits.set(ctx, tf.tidy(() => d.applyTeacher(batch!.xs, { training: true, progress: ctx.progress }).logits));
      d.syncTeacher();
    }
    return { arches: [d.mixedArch], reported: 0 };
  },
  loss(input, ctx) {
    const t = teacherLogits.get(ctx);
    if (!t) return { total: input.taskLoss };
    const kd = softCrossEntropy(input.logits, t);
    return { total: tf.add(input.taskLoss, tf.mul(kd, SD_WEIGHT)) as tf.Scalar, kd };
  },
  afterSubnet(_g, ctx) {
    teacherLogits.get(ctx)?.dispose();
    teacherLogits.delete(ctx);
  },
  report: ({ space, state }) => ({
    decided: state.selections.length,
    ...encodeDartsEdges(
      dartsEdges(space).map((position) => {
        const sel = state.selections.find((x) => x.position === position);
        return { position, weights: state.weights[position]!, selection: sel ? { step: sel.step, base: sel.base, without: sel.without, chosen: sel.chosen } : null };
      }),
    ),
  }),
});
