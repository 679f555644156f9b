/**
 * The transitional layer list (core/nn/subnetLayers.ts) run and counted through the one subnet graph
 * evaluator (core/nn/graph/evaluate.ts): the list is translated to graph ops (./graph/fromLayers.ts), so
 * there is one reference arithmetic for every op and router (issue 10; this file used to evaluate the list
 * with its own copy of each). `subnetRouterLogits` gives a lowered MoE layer's router logits for the router
 * registry's test of lowered against training-path selection.
 */
import * as tf from '@tensorflow/tfjs';
import { chainStep } from './routers/rmoe.js';
import { mixedLogits } from './routers/similarity.js';
import { l2Rows } from './routers/prototype.js';
import type { ForwardContext } from './routers/router.js';
import { compileOps, countGraphParams } from './graph/evaluate.js';
import { layerOps } from './graph/fromLayers.js';
import type { GruWeights, MoESubnetLayer, SubnetLayer, WeightArray } from './subnetLayers.js';

const t = (w: WeightArray) => tf.tensor(w.data, w.shape);

const gruOf = (g: GruWeights) => ({ wx: t(g.wx), bx: t(g.bx), wh: t(g.wh), bh: t(g.bh) });

/**
 * An exported MoE layer's router logits: x · router (+ bias), or, for RMoE, GRU(x · proj, the chain's
 * previous state) · router; plus the gating residual of the previous layer's logits. Updates `ctx`.
 */
export function subnetRouterLogits(x: tf.Tensor2D, m: MoESubnetLayer, ctx: ForwardContext): tf.Tensor2D {
  const S = m.columns.length;
  const rec = m.recurrent;
  const input = rec ? chainStep(ctx.state, rec.chain, tf.matMul(x, t(rec.proj) as tf.Tensor2D) as tf.Tensor2D, rec.gru ? gruOf(rec.gru) : null) : m.prototype ? l2Rows(x) : x;
  let logits = tf.matMul(input, t(m.router) as tf.Tensor2D) as tf.Tensor2D;
  if (m.routerBias) logits = tf.add(logits, t(m.routerBias)) as tf.Tensor2D;
  // Similarity-aware routing: the distribution mixed over the rows routed together (log p̃ as logits).
  if (m.similarity) logits = mixedLogits(x, logits, t(m.similarity.ws) as tf.Tensor2D, m.similarity.temperature);
  if (m.gateResidual && ctx.logits && ctx.logits.shape[1] === S) logits = tf.add(logits, tf.matMul(ctx.logits, t(m.gateResidual) as tf.Tensor2D)) as tf.Tensor2D;
  ctx.logits = logits;
  return logits;
}

/** Logits of the subnet for a batch x ([N, ...inputShape]), inference mode: the graph evaluator on the list's ops. */
export function runSubnetLayers(layers: readonly SubnetLayer[], x: tf.Tensor): tf.Tensor2D {
  const g = compileOps(layers.flatMap(layerOps));
  try {
    return g.run(x) as tf.Tensor2D;
  } finally {
    g.dispose();
  }
}

/** Parameters the layer list holds (BatchNorm statistics included, as an exported model holds them): its graph's. */
export function countSubnetLayerParams(layers: readonly SubnetLayer[]): number {
  return countGraphParams({ input: { kind: 'vector', dim: 1 }, numClasses: 1, ops: layers.flatMap(layerOps) });
}
