/**
 * Evaluation of the subnet graph (./ops.ts) with tfjs ops, independently of the supernet: the reference
 * every writer (tfjs LayersModel, ONNX) and every compression pass is checked against, and "evaluate this
 * graph on a data split" (`evaluateGraph`: accuracy with its split, sample count and 95 % interval).
 */
import * as tf from '@tensorflow/tfjs';
import { activate } from '../activations.js';
import { renormalizedGates } from '../moe/routers.js';
import { momentumStep } from '../moe/momentum.js';
import { chainStep, type GruTensors } from '../routers/rmoe.js';
import { mixedLogits } from '../routers/similarity.js';
import { l2Rows } from '../routers/prototype.js';
import { selectionMaskTensor as gatingMask } from '../routers/selection.js';
import { inputSampleShape, type InputSpec } from '../../space/SearchSpace.js';
import { sampleSize, type Split } from '../../data/DatasetContract.js';
import { accuracyEstimate } from '../../protocol/accuracyInterval.js';
import type { AccuracyEstimate, DataSplit } from '../../protocol/protocol.js';
import type { DenseWeights, Ffn, MoEOp, SubnetGraph, SubnetOp } from './ops.js';

export type { DenseWeights, Ffn, Gating, MoEOp, MoESlot, SubnetGraph, SubnetOp } from './ops.js';

/** Shape of one input sample: [dim] or [height, width, channels] (NHWC without the batch). */
export function inputShapeOf(input: InputSpec): number[] {
  return inputSampleShape(input);
}

// ---------------------------------------------------------------------------------------------------
// Reference evaluation with tfjs ops.

/**
 * The [batch, slots] 0/1 mask of the slots each token uses: the selection ops' tensor form, beside their
 * plain-array form in core/nn/routers/selection.ts (one module for both).
 */
export { selectionMaskTensor as gatingMask } from '../routers/selection.js';

/** A forward function over a batch, with the weight tensors it holds. */
type Forward = (x: tf.Tensor) => tf.Tensor;

/** A row-wise forward on a sequence batch [N, T, d]: its N·T tokens as rows, then back to [N, T, ·]. */
function onTokens(f: Forward): Forward {
  return (x) => {
    if (x.rank !== 3) return f(x);
    const [n, t, d] = x.shape as [number, number, number];
    const y = f(tf.reshape(x, [n * t, d]));
    return tf.reshape(y, [n, t, y.shape[1]!]);
  };
}

/**
 * Compiles a graph into forward functions over weight tensors created once (so timing a forward pass
 * measures compute, not weight uploads). Every tensor it creates is tracked for `dispose`.
 */
class Compiler {
  readonly held: tf.Tensor[] = [];
  /** Router logits of the last MoE op evaluated in the current run (gating residuals); reset per run. */
  lastLogits: tf.Tensor | null = null;
  /** RMoE chains' states in the current run (core/nn/routers/rmoe.ts chainStep); reset per run. */
  state = new Map<string, unknown>();
  /** The first-pass router logits of the MoE op compiled last (`moeRouterLogits`). */
  lastRouterLogits: Forward | null = null;

  keep<T extends tf.Tensor>(t: T): T {
    this.held.push(t);
    return t;
  }

  dense(w: DenseWeights): Forward {
    const k = this.keep(tf.tensor2d(w.kernel, [w.inDim, w.outDim]));
    const b = w.bias ? this.keep(tf.tensor1d(w.bias)) : null;
    return (x) => {
      const y = tf.matMul(x as tf.Tensor2D, k);
      return b ? tf.add(y, b) : y;
    };
  }

  /** A GRU cell's weights as the tensors core/nn/routers/rmoe.ts gruCell takes. */
  gru(g: { input: DenseWeights; hidden: DenseWeights }): GruTensors {
    const t = (w: DenseWeights) => ({ k: this.keep(tf.tensor2d(w.kernel, [w.inDim, w.outDim])), b: this.keep(tf.tensor1d(w.bias!)) });
    const [i, h] = [t(g.input), t(g.hidden)];
    return { wx: i.k, bx: i.b, wh: h.k, bh: h.b };
  }

  ffn(f: Ffn): Forward {
    const up = this.dense(f.up);
    const down = this.dense(f.down);
    return (x) => down(activate(up(x), f.activation));
  }

  moe(m: MoEOp): Forward {
    const router = this.dense(m.router);
    const slots = m.slots.map((slot): ((x: tf.Tensor, g: tf.Tensor) => tf.Tensor) | null => {
      if (slot.kind === 'expert') {
        const f = this.ffn(slot.ffn);
        return (x, g) => tf.mul(g, f(x));
      }
      if (slot.kind === 'copy') return (x, g) => tf.mul(g, x);
      if (slot.kind === 'constant') {
        const c = this.keep(tf.tensor2d(slot.value, [1, m.dim]));
        if (!slot.gate) return (_x, g) => tf.mul(g, c);
        const mix = this.dense(slot.gate);
        return (x, g) => {
          const alpha = tf.softmax(mix(x)) as tf.Tensor2D;
          return tf.mul(g, tf.add(tf.mul(alpha.slice([0, 0], [-1, 1]), x), tf.mul(alpha.slice([0, 1], [-1, 1]), c)));
        };
      }
      return null;
    });
    const shared = m.shared.map((f) => this.ffn(f));
    const residual = m.gateResidual ? this.dense(m.gateResidual) : null;
    const rec = m.recurrent;
    const proj = rec ? this.dense(rec.proj) : null;
    const cell = rec?.gru ? this.gru(rec.gru) : null;
    const computing = this.keep(tf.tensor1d(m.slots.map((sl) => (sl.kind === 'null' ? 0 : 1))));
    const S = m.slots.length;
    const rmlp = m.residualMlp ? { mlp: this.ffn(m.residualMlp.mlp), coef: this.dense(m.residualMlp.coef) } : null;
    const sim = m.similarity ? { ws: this.keep(tf.tensor2d(m.similarity.ws.kernel, [m.similarity.ws.inDim, m.similarity.ws.outDim])), temperature: m.similarity.temperature } : null;
    const routerLogits = (x: tf.Tensor, router: Forward) => {
      // ProMoE prototypes: the router reads the L2-normalised input (its kernel holds α · unit prototypes).
      let logits = router(rec ? chainStep(this.state, rec.chain, proj!(x) as tf.Tensor2D, cell) : m.prototype ? l2Rows(x as tf.Tensor2D) : x);
      // Similarity-aware routing: the distribution mixed over the batch's rows (core/nn/routers/similarity.ts).
      if (sim) logits = mixedLogits(x as tf.Tensor2D, logits as tf.Tensor2D, sim.ws, sim.temperature);
      const prev = this.lastLogits;
      if (residual && prev && prev.shape[1] === S) logits = tf.add(logits, residual(prev));
      this.lastLogits = logits;
      return logits;
    };
    this.lastRouterLogits = (x) => routerLogits(x, router);
    const pass = (x: tf.Tensor, router: Forward) => {
      const logits = routerLogits(x, router);
      // The scores the choice ranks and raw gates weigh: the probabilities, or ProMoE's cosines themselves.
      const probs = m.prototype ? (logits as tf.Tensor2D) : (tf.softmax(logits) as tf.Tensor2D);
      const mask = gatingMask(probs, m.gating);
      let gate = tf.mul(probs, mask) as tf.Tensor2D;
      // Renormalised over the chosen slots that compute (a masked softmax of the logits, as every path).
      if (m.normalize) gate = renormalizedGates(logits as tf.Tensor2D, tf.mul(mask, computing) as tf.Tensor2D);
      let out: tf.Tensor = tf.zeros([x.shape[0]!, m.dim]);
      slots.forEach((f, i) => {
        if (f) out = tf.add(out, f(x, gate.slice([0, i], [-1, 1])));
      });
      for (const f of shared) out = tf.add(out, f(x));
      // DeepSpeed-MoE residual MoE: c₀·out + c₁·mlp(x), [c₀, c₁] = softmax(x · coef + b).
      if (rmlp) {
        const c = tf.softmax(rmlp.coef(x)) as tf.Tensor2D;
        out = tf.add(tf.mul(c.slice([0, 0], [-1, 1]), out), tf.mul(c.slice([0, 1], [-1, 1]), rmlp.mlp(x)));
      }
      return out;
    };
    // Chain-of-Experts: x(t) = x(t−1) + pass_t(x(t−1)); the op gives x(C) − x (its residual op adds x back).
    const routers = [router, ...(m.iterations ?? []).map((w) => this.dense(w))];
    const update = routers.length === 1 ? (x: tf.Tensor) => pass(x, router) : (x: tf.Tensor) => tf.sub(routers.reduce((h, r) => tf.add(h, pass(h, r)), x), x);
    // MomentumSMoE: −p, p = μ·p_prev + γ·f carried across the momentum ops of the run.
    const mom = m.momentum;
    return mom ? (x) => tf.neg(momentumStep(this.state, update(x) as tf.Tensor2D, mom)) : update;
  }

  op(o: SubnetOp): Forward {
    return (opEvaluators[o.op] as (c: Compiler, o: SubnetOp) => Forward)(this, o);
  }

  ops(ops: readonly SubnetOp[]): Forward {
    const fs = ops.map((o) => this.op(o));
    return (x) => fs.reduce((h, f) => f(h), x);
  }
}

/**
 * One MoE op's router logits [T, S] on its input x [T, dim], as the evaluator computes them (the op taken
 * as its graph's first MoE op: no previous logits, RMoE chain state zero). The router registry's test
 * compares the lowered selection over these with the training path's.
 */
export function moeRouterLogits(m: MoEOp, x: tf.Tensor2D): tf.Tensor2D {
  const c = new Compiler();
  try {
    c.moe(m);
    return tf.tidy(() => c.lastRouterLogits!(x) as tf.Tensor2D);
  } finally {
    tf.dispose(c.held);
  }
}

type OpOf<K extends SubnetOp['op']> = Extract<SubnetOp, { op: K }>;

/** Each graph op's evaluation, by op kind: the one place a new op's reference arithmetic is registered. */
const opEvaluators: { [K in SubnetOp['op']]: (c: Compiler, o: OpOf<K>) => Forward } = {
  dense: (c, o) => onTokens(c.dense(o.weights)),
  conv2d: (c, o) => {
    const k = c.keep(tf.tensor4d(o.kernel, [o.kernelSize, o.kernelSize, o.inChannels, o.outChannels]));
    const b = o.bias ? c.keep(tf.tensor1d(o.bias)) : null;
    return (x) => {
      const y = tf.conv2d(x as tf.Tensor4D, k, o.stride, 'same');
      return b ? tf.add(y, b) : y;
    };
  },
  batchNorm: (c, o) => {
    const [mean, variance, beta, gamma] = [o.mean, o.variance, o.beta, o.gamma].map((a) => c.keep(tf.tensor1d(a)));
    return (x) => tf.batchNorm(x, mean!, variance!, beta!, gamma!, o.epsilon);
  },
  activation: (_c, o) => (x) => activate(x, o.fn),
  globalAvgPool: () => (x) => tf.mean(x, [1, 2]),
  flatten: () => (x) => tf.reshape(x, [x.shape[0]!, -1]),
  tokenMean: () => (x) => tf.mean(x, 1),
  residual: (c, o) => {
    const body = c.ops(o.body);
    return (x) => tf.add(x, body(x));
  },
  moe: (c, o) => onTokens(c.moe(o)),
  tokenEmbedding: (c, o) => {
    const table = c.keep(tf.tensor2d(o.table, [o.vocab, o.dim]));
    const positions = c.keep(tf.tensor2d(o.positions, [o.length, o.dim]));
    return (x) => {
      const [n, t] = x.shape as [number, number];
      const rows = tf.gather(table, tf.cast(tf.reshape(x, [n * t]), 'int32'));
      return tf.add(tf.reshape(rows, [n, t, o.dim]), positions.slice([0, 0], [t, o.dim]));
    };
  },
  patchEmbedding: (c, o) => {
    const f = onTokens(c.dense(o.weights));
    const d = o.weights.outDim;
    const positions = c.keep(tf.tensor2d(o.positions, [o.length, d]));
    return (x) => tf.add(f(x), positions.slice([0, 0], [x.shape[1]!, d]));
  },
  layerNorm: (c, o) => {
    const [gamma, beta] = [o.gamma, o.beta].map((a) => c.keep(tf.tensor1d(a)));
    return (x) => {
      const { mean, variance } = tf.moments(x, -1, true);
      return tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, o.epsilon))), gamma!), beta!);
    };
  },
  attention: (c, o) => {
    const [q, k, v, out] = [o.q, o.k, o.v, o.o].map((w) => onTokens(c.dense(w)));
    const { heads: h, headDim: dh } = o;
    return (x) => {
      const [n, t] = x.shape as [number, number, number];
      // [N, T, h·dₕ] → [N, h, T, dₕ]: head i is columns i·dₕ … (i+1)·dₕ.
      const split = (y: tf.Tensor) => tf.transpose(tf.reshape(y, [n, t, h, dh]), [0, 2, 1, 3]);
      let scores = tf.mul(tf.matMul(split(q!(x)) as tf.Tensor4D, split(k!(x)) as tf.Tensor4D, false, true), 1 / Math.sqrt(dh));
      if (o.causal) {
        const mask = new Float32Array(t * t);
        for (let i = 0; i < t; i++) for (let j = i + 1; j < t; j++) mask[i * t + j] = o.maskValue;
        scores = tf.add(scores, tf.tensor2d(mask, [t, t]));
      }
      const attended = tf.matMul(tf.softmax(scores, -1) as tf.Tensor4D, split(v!(x)) as tf.Tensor4D);
      return out!(tf.reshape(tf.transpose(attended, [0, 2, 1, 3]), [n, t, h * dh]));
    };
  },
};

/** A graph ready to run repeatedly: weights uploaded once. */
export interface CompiledGraph {
  run(x: tf.Tensor): tf.Tensor;
  dispose(): void;
}

export function compileOps(ops: readonly SubnetOp[]): CompiledGraph {
  const c = new Compiler();
  const f = c.ops(ops);
  return {
    run: (x) =>
      tf.tidy(() => {
        c.lastLogits = null;
        c.state = new Map();
        return f(x);
      }),
    dispose: () => tf.dispose(c.held),
  };
}

export function compileSubnetGraph(graph: SubnetGraph): CompiledGraph {
  return compileOps(graph.ops);
}

/** Logits of the graph for a batch `x` ([batch, ...inputShape]). */
export function runSubnetGraph(graph: SubnetGraph, x: tf.Tensor): tf.Tensor2D {
  const g = compileSubnetGraph(graph);
  try {
    return g.run(x) as tf.Tensor2D;
  } finally {
    g.dispose();
  }
}

/** Parameters the graph holds (weights of every layer; BN statistics included). */
export function countGraphParams(graph: SubnetGraph): number {
  const d = (w: DenseWeights) => w.kernel.length + (w.bias?.length ?? 0);
  const f = (x: Ffn) => d(x.up) + d(x.down);
  const count = (ops: readonly SubnetOp[]): number =>
    ops.reduce((s, o) => {
      switch (o.op) {
        case 'dense':
          return s + d(o.weights);
        case 'conv2d':
          return s + o.kernel.length + (o.bias?.length ?? 0);
        case 'batchNorm':
          return s + 4 * o.channels;
        case 'residual':
          return s + count(o.body);
        case 'tokenEmbedding':
          return s + o.table.length + o.positions.length;
        case 'patchEmbedding':
          return s + d(o.weights) + o.positions.length;
        case 'layerNorm':
          return s + 2 * o.dim;
        case 'attention':
          return s + d(o.q) + d(o.k) + d(o.v) + d(o.o);
        case 'moe':
          return (
            s +
            d(o.router) +
            o.shared.reduce((a, x) => a + f(x), 0) +
            (o.gateResidual ? d(o.gateResidual) : 0) +
            (o.iterations ?? []).reduce((a, w) => a + d(w), 0) +
            (o.recurrent ? d(o.recurrent.proj) + (o.recurrent.gru ? d(o.recurrent.gru.input) + d(o.recurrent.gru.hidden) : 0) : 0) +
            (o.similarity ? d(o.similarity.ws) : 0) +
            (o.residualMlp ? f(o.residualMlp.mlp) + d(o.residualMlp.coef) : 0) +
            o.slots.reduce((a, sl) => a + (sl.kind === 'expert' ? f(sl.ffn) : sl.kind === 'constant' ? sl.value.length + (sl.gate ? d(sl.gate) : 0) : 0), 0)
          );
        default:
          return s;
      }
    }, 0);
  return count(graph.ops);
}

// ---------------------------------------------------------------------------------------------------
// Evaluate a graph on a data split.

export interface SplitSlice {
  split: Split;
  /** First sample. */
  from: number;
  /** Samples scored (clamped to the split). */
  count: number;
}

/** Samples [from, from + count) of a split as a batch tensor [count, ...inputShape]. */
export function sliceTensor(graph: SubnetGraph, s: SplitSlice): tf.Tensor {
  const shape = inputShapeOf(graph.input);
  const per = sampleSize(shape);
  const n = Math.max(0, Math.min(s.count, s.split.n - s.from));
  return tf.tensor(s.split.x.subarray(s.from * per, (s.from + n) * per), [n, ...shape]);
}

/** Top-1 accuracy of the graph on a slice of a split (weights uploaded once, batches of `batchSize`). */
export async function graphAccuracy(graph: SubnetGraph, s: SplitSlice, batchSize = 512): Promise<{ accuracy: number; n: number }> {
  const g = compileSubnetGraph(graph);
  const end = Math.min(s.split.n, s.from + s.count);
  let correct = 0;
  try {
    for (let i = s.from; i < end; i += batchSize) {
      const x = sliceTensor(graph, { split: s.split, from: i, count: Math.min(batchSize, end - i) });
      const pred = tf.tidy(() => tf.argMax(g.run(x), 1));
      const p = await pred.data();
      for (let j = 0; j < p.length; j++) if (p[j] === s.split.y[i + j]) correct++;
      tf.dispose([x, pred]);
    }
  } finally {
    g.dispose();
  }
  const n = Math.max(0, end - s.from);
  return { accuracy: n > 0 ? correct / n : 0, n };
}

/**
 * Evaluate this graph on a data split: top-1 accuracy over the whole split (or `count` samples from
 * `from`), with the split's name, the sample count and the 95 % Wilson interval.
 */
export async function evaluateGraph(graph: SubnetGraph, split: Split, name: DataSplit, opts: { from?: number; count?: number; batchSize?: number } = {}): Promise<AccuracyEstimate> {
  const r = await graphAccuracy(graph, { split, from: opts.from ?? 0, count: opts.count ?? split.n }, opts.batchSize);
  return accuracyEstimate(name, r.accuracy, r.n);
}
