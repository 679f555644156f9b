/**
 * Balanced Mixture of SuperNets (Javan, Toews & Pedersoli, 2023, "Balanced Mixture of SuperNets for
 * Learning the CNN Pooling Architecture"; reference code mehravehj/Balanced-Mixture-of-SuperNets,
 * utils/NAS_trainer.train_valid and utils/search_space_design): K supernets with their own weights
 * (core/nn/MixtureSupernet.ts); every architecture is softly assigned to them, and the assignment follows
 * how well it does in each, balanced so that every supernet gets its share of architectures.
 *
 * Each step, as the reference's train_valid:
 * 1. draw an architecture a uniformly and a supernet k ~ p(k | a), train k's weights on a with a batch of
 *    the weights half of the training samples;
 * 2. score a in k (inference mode) on a batch of the other half and move the assignment logit towards
 *    that accuracy: W[a, k] ← d · W[a, k] + (1 − d) · acc, d = 0.95 (`exp_moving_avg`, `--ema_decay`);
 * 3. p(k | a) = softmax(T · W[a, :]) over supernets, T rising linearly from 1 to 100 over training
 *    (`--temperature`, `--max_temperature`); the balance term: at each epoch the marginal
 *    p(k) = mean_a p(k | a) is divided out and p(k | a) renormalised, repeatedly, until KL(p(k) ‖ uniform)
 *    ≤ 10⁻⁴ (`--threshold`); those marginals are applied to every p(k | a) of the epoch
 *    (`model_prob_calculator`).
 * A subnet is scored, searched, ranked and exported in its most probable supernet (argmax_k p(k | a)).
 *
 * Defaults: K = 4 (the reference's `-nm 4` runs), W initialised to 1 (`init_models_w`).
 * Deviations, for spaces of thousands of architectures where the reference has 36 to a few hundred: W is
 * factorised over arch positions, W[a, k] = mean over a's deciding positions p of w[p, a_p, k] (the EMA
 * update moves each of those entries), so an architecture never drawn still has an assignment; the
 * marginal over architectures is estimated on a fixed set of 2048 uniformly drawn ones instead of a sum
 * over all of them; an epoch is one pass of the weights half at the run's batch size.
 */
import * as tf from '@tensorflow/tfjs';
import { MixtureSupernet } from '../../nn/MixtureSupernet.js';
import type { Supernet } from '../../nn/types.js';
import { activePositions, archDims, canonicalVector, decodeArch, encodeArch, sampleArch } from '../../space/archCodec.js';
import { createRng } from '../../space/rng.js';
import type { Arch, SearchSpace } from '../../space/SearchSpace.js';
import { correctCount } from '../evaluate.js';
import { measurementBatches, weightHalfBatch } from './measurementBatches.js';
import { defineStrategy } from './TrainingStrategy.js';

export const BMOS_MODELS = 4;
export const BMOS_EMA_DECAY = 0.95;
export const BMOS_TEMPERATURE: readonly [number, number] = [1, 100];
export const BMOS_THRESHOLD = 1e-4;
export const BMOS_INIT_LOGIT = 1;
/** Architectures the marginal p(k) is estimated on (drawn from a fixed seed, the same every epoch). */
export const BMOS_MARGINAL_ARCHS = 2048;
/** Cap on the balancing iterations of one epoch. */
const MAX_BALANCING = 1000;

export interface BmosState {
  models: number;
  /** w[position][choice][model]: factorised assignment logits. */
  logits: number[][][];
  /** The epoch's balancing marginals, applied in order (`p_m` in the reference). */
  marginals: number[][];
  /** The temperature the marginals were computed at, and the epoch length in steps. */
  temperature: number;
  epochSteps: number;
  /** The architecture and supernet the last step trained, scored at the start of the next. */
  pending: { vec: number[]; model: number } | null;
  /** Steps each supernet trained. */
  trained: number[];
}

export function temperatureAt(progress: number): number {
  return BMOS_TEMPERATURE[0] + (BMOS_TEMPERATURE[1] - BMOS_TEMPERATURE[0]) * progress;
}

/** W[a, :]: the mean logit over the arch's deciding positions. */
export function archLogits(space: SearchSpace, logits: readonly (readonly (readonly number[])[])[], vec: readonly number[], models: number): number[] {
  const active = activePositions(space, vec);
  const out = new Array<number>(models).fill(0);
  let n = 0;
  vec.forEach((c, p) => {
    if (!active[p]) return;
    n++;
    for (let k = 0; k < models; k++) out[k]! += logits[p]![c]![k]!;
  });
  return out.map((v) => (n ? v / n : BMOS_INIT_LOGIT));
}

function softmax(xs: readonly number[]): number[] {
  const m = Math.max(...xs);
  const e = xs.map((x) => Math.exp(x - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

/** Divide by each marginal in turn and renormalise over supernets (`model_prob_calculator`). */
export function applyMarginals(prob: readonly number[], marginals: readonly (readonly number[])[]): number[] {
  let p = [...prob];
  for (const m of marginals) {
    const q = p.map((v, k) => v / m[k]!);
    const s = q.reduce((a, b) => a + b, 0);
    p = q.map((v) => v / s);
  }
  return p;
}

/** p(k | a), balanced. */
export function assignment(space: SearchSpace, state: Pick<BmosState, 'logits' | 'marginals' | 'temperature' | 'models'>, vec: readonly number[]): number[] {
  const w = archLogits(space, state.logits, vec, state.models);
  return applyMarginals(softmax(w.map((v) => v * state.temperature)), state.marginals);
}

export const klToUniform = (m: readonly number[]): number => Math.abs(m.reduce((s, v) => s + (v > 0 ? v * Math.log(v * m.length) : 0), 0));

/**
 * The balancing marginals for conditionals `probs` (one row per architecture): while the marginal is
 * further than `threshold` from uniform, record it, divide it out and renormalise (train_valid's loop).
 */
export function balancingMarginals(probs: readonly (readonly number[])[], threshold = BMOS_THRESHOLD): number[][] {
  let rows = probs.map((r) => [...r]);
  const out: number[][] = [];
  const marginal = () => rows[0]!.map((_, k) => rows.reduce((s, r) => s + r[k]!, 0) / rows.length);
  let m = marginal();
  while (klToUniform(m) > threshold && out.length < MAX_BALANCING) {
    out.push(m);
    const cur = m;
    rows = rows.map((r) => {
      const q = r.map((v, k) => v / cur[k]!);
      const s = q.reduce((a, b) => a + b, 0);
      return q.map((v) => v / s);
    });
    m = marginal();
  }
  return out;
}

/** The fixed architecture set the marginal is estimated on. */
function marginalArchs(space: SearchSpace): number[][] {
  const rng = createRng(0xb1a5ed);
  return Array.from({ length: BMOS_MARGINAL_ARCHS }, () => canonicalVector(space, encodeArch(space, sampleArch(space, rng))));
}

function recomputeMarginals(space: SearchSpace, state: BmosState, temperature: number): void {
  state.temperature = temperature;
  const probs = marginalArchs(space).map((v) => softmax(archLogits(space, state.logits, v, state.models).map((x) => x * temperature)));
  state.marginals = balancingMarginals(probs);
}

const argmax = (xs: readonly number[]) => xs.reduce((b, v, i) => (v > xs[b]! ? i : b), 0);
const vecOf = (space: SearchSpace, arch: Arch) => canonicalVector(space, encodeArch(space, arch));
const sameVec = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((v, i) => v === b[i]);

/** The supernet a subnet uses: the one the step drew for the subnet it trains, else the most probable. */
export function routeArch(space: SearchSpace, state: BmosState, arch: Arch): number {
  const v = vecOf(space, arch);
  if (state.pending && sameVec(state.pending.vec, v)) return state.pending.model;
  return argmax(assignment(space, state, v));
}

function asMixture(net: Supernet): MixtureSupernet {
  if (!(net instanceof MixtureSupernet)) throw new Error("strategy 'bmos' needs the supernet its buildNet makes (a MixtureSupernet)");
  return net;
}

export function initialBmosState(space: SearchSpace, steps: number, trainSamples: number, batchSize: number): BmosState {
  const models = BMOS_MODELS;
  return {
    models,
    logits: archDims(space).map((n) => Array.from({ length: n }, () => new Array<number>(models).fill(BMOS_INIT_LOGIT))),
    marginals: [],
    temperature: temperatureAt(0),
    epochSteps: Math.max(1, Math.min(steps, Math.ceil(Math.ceil(trainSamples / 2) / batchSize))),
    pending: null,
    trained: new Array<number>(models).fill(0),
  };
}

export const bmos = defineStrategy<BmosState>({
  name: 'bmos',
  paper: 'Javan, Toews & Pedersoli, Balanced Mixture of SuperNets for Learning the CNN Pooling Architecture (2023)',
  buildNet(space, seed, state) {
    const net = new MixtureSupernet(space, seed, state?.models ?? BMOS_MODELS);
    if (state) {
      const restored: BmosState = { ...structuredClone(state), pending: null };
      net.setRouter((arch) => routeArch(space, restored, arch));
    }
    return net;
  },
  init: ({ space, steps, trainSamples, batchSize, net }) => {
    const s = initialBmosState(space, steps, trainSamples, batchSize);
    asMixture(net).setRouter((arch) => routeArch(space, s, arch));
    return s;
  },
  async beforeStep(ctx, { net, train, inputShape, batchSize }) {
    const s = ctx.state;
    const mix = asMixture(net);
    // The state object is the checkpoint's copy after a resume: route by the live one.
    mix.setRouter((arch) => routeArch(ctx.space, s, arch));
    if (s.pending) {
      const { vec, model } = s.pending;
      const [b] = measurementBatches(train, inputShape, batchSize, ctx.rng, 1, 'architecture');
      const arch = decodeArch(ctx.space, vec);
      const correct = tf.tidy(() => correctCount(mix.copies[model]!.apply(b!.x, arch, { training: false, progress: ctx.progress }).logits, b!.y));
      const acc = (await correct.data())[0]! / b!.y.shape[0];
      tf.dispose([correct, b!.x, b!.y]);
      const active = activePositions(ctx.space, vec);
      vec.forEach((c, p) => {
        if (active[p]) s.logits[p]![c]![model] = BMOS_EMA_DECAY * s.logits[p]![c]![model]! + (1 - BMOS_EMA_DECAY) * acc;
      });
      s.pending = null;
    }
    if (ctx.step % s.epochSteps === 0) recomputeMarginals(ctx.space, s, temperatureAt(ctx.progress));
  },
  sampleBatch: (ctx, trainSamples, batchSize) => weightHalfBatch(ctx.rng, trainSamples, batchSize),
  plan(ctx) {
    const s = ctx.state;
    const arch = sampleArch(ctx.space, ctx.rng);
    const vec = vecOf(ctx.space, arch);
    const p = assignment(ctx.space, s, vec);
    let u = ctx.rng.next();
    let model = p.length - 1;
    for (let k = 0; k < p.length; k++) {
      u -= p[k]!;
      if (u < 0) {
        model = k;
        break;
      }
    }
    s.pending = { vec, model };
    s.trained[model]!++;
    return { arches: [arch], reported: 0 };
  },
  report: ({ state }) => ({ trained: [...state.trained], temperature: state.temperature, balancing: state.marginals.length }),
});
