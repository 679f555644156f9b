/**
 * A minimal Supernet for the trainer's own tests, so they do not depend on core/nn's implementation:
 * an elastic-width dense stem, one top-1 MoE layer (router, E linear experts) and a classifier. It
 * honours the contract in core/nn/types.ts (stable names, MoE tensors, aux loss).
 */
import * as tf from '@tensorflow/tfjs';
import type { ForwardResult, Supernet } from '../nn/types.js';
import type { Arch, SearchSpace } from '../space/SearchSpace.js';
import { createRng } from '../space/rng.js';

/** The space testSupernet understands: vector input, a dense stage, an MoE stage. */
export const TEST_SPACE: SearchSpace = {
  version: 1,
  name: 'trainer test space',
  input: { kind: 'vector', dim: 2 },
  numClasses: 3,
  stages: [
    { id: 'stem', depth: [1], block: { type: 'dense', width: [8, 16], activation: 'relu', ops: ['dense'], residual: false } },
    {
      id: 'moe',
      depth: [1],
      block: {
        type: 'moe', experts: 4, expertHidden: [8], activation: 'gelu', routing: { mode: 'topk', k: 1 }, capacityFactor: null,
        capacityPriority: 'rank', auxLossWeight: 0.01, zLossWeight: 0, routerJitter: 0, balanceTau: 1, gatingResidual: false,
        sharedExperts: 0, segments: 1, nullExperts: 0, zeroExperts: 0, copyExperts: 0, constantExperts: 0, residual: true, iterations: 1,
      },
    },
  ],
};

export function buildTestSupernet(space: SearchSpace, seed: number, opts: { routerBias?: number[] } = {}): Supernet {
  const rng = createRng(seed);
  const stem = space.stages[0]!.block;
  if (stem.type !== 'dense') throw new Error('test supernet wants a dense stem');
  const moeBlock = space.stages[1]!.block;
  if (moeBlock.type !== 'moe') throw new Error('test supernet wants an moe stage');
  const inDim = space.input.kind === 'vector' ? space.input.dim : 0;
  const W = Math.max(...stem.width);
  const E = moeBlock.experts;
  const init = (shape: number[], scale: number) =>
    tf.tensor(Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.normal() * scale), shape);
  const vars = new Map<string, tf.Variable>();
  const mk = (name: string, t: tf.Tensor, trainable = true) => {
    const v = tf.variable(t, trainable);
    t.dispose();
    vars.set(name, v);
    return v;
  };
  const w1 = mk('stem.b0/kernel', init([inDim, W], 1));
  const b1 = mk('stem.b0/bias', tf.zeros([W]));
  const wr = mk('moe.b0/router', init([W, E], 0.3));
  const br = mk('moe.b0/routerBias', tf.tensor1d(opts.routerBias ?? new Array(E).fill(0)));
  const we = Array.from({ length: E }, (_, e) => mk(`moe.b0/e${e}/kernel`, init([W, W], 0.3)));
  const wo = mk('head/kernel', init([W, space.numClasses], 0.3));
  const steps = mk('meta/steps', tf.scalar(0, 'int32'), false);
  const names = Array.from({ length: E }, (_, e) => `e${e}`);

  return {
    space,
    apply(x: tf.Tensor, arch: Arch, opts): ForwardResult {
      const width = arch.stages[0]!.blocks[0]!.width ?? W;
      const h = tf.relu(tf.add(tf.matMul(x as tf.Tensor2D, tf.slice(w1, [0, 0], [inDim, width])), tf.slice(b1, [0], [width]))) as tf.Tensor2D;
      const probs = tf.softmax(tf.add(tf.matMul(h, tf.slice(wr, [0, 0], [width, E])), br)) as tf.Tensor2D;
      const top = tf.argMax(probs, 1);
      const mask = tf.oneHot(top, E).toFloat() as tf.Tensor2D;
      let y: tf.Tensor2D = h;
      for (let e = 0; e < E; e++) {
        const gate = tf.slice(tf.mul(probs, mask), [0, e], [-1, 1]);
        y = tf.add(y, tf.mul(gate, tf.matMul(h, tf.slice(we[e]!, [0, 0], [width, width])))) as tf.Tensor2D;
      }
      const logits = tf.matMul(y, tf.slice(wo, [0, 0], [width, space.numClasses])) as tf.Tensor2D;
      const load = tf.mean(mask, 0) as tf.Tensor1D;
      const aux = tf.mul(E, tf.sum(tf.mul(load, tf.mean(probs, 0)))) as tf.Scalar;
      if (opts.training) steps.assign(tf.add(steps, tf.scalar(1, 'int32')));
      return {
        logits,
        auxLoss: tf.mul(aux, moeBlock.auxLossWeight) as tf.Scalar,
        moe: [
          {
            layer: 'moe.b0',
            expertNames: names,
            load,
            dropped: tf.scalar(0),
            entropy: tf.mean(tf.neg(tf.sum(tf.mul(probs, tf.log(tf.add(probs, 1e-9))), 1))) as tf.Scalar,
            auxLoss: aux,
            meanActive: tf.scalar(1),
            topExpert: top.toFloat() as tf.Tensor1D,
            mask,
          },
        ],
      };
    },
    trainableVariables: () => [...vars.values()].filter((v) => v.trainable),
    namedVariables: () => new Map(vars),
    countParams: () => 0,
    countFlops: () => 0,
    dispose: () => {
      for (const v of vars.values()) v.dispose();
    },
  };
}
