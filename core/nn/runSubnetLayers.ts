/**
 * Inference of a subnet from its sliced layer list (core/nn/subnetLayers.ts) with plain tfjs ops and no
 * supernet. It is the executable definition of the layer format: tests check it against
 * `Supernet.apply`, and an exporter can check its own graph against it.
 */
import * as tf from '@tensorflow/tfjs';
import { activate } from './activations.js';
import { conv2dSame } from './conv.js';
import { renormalizedGates } from './moe/routers.js';
import { selectionMask } from './routers/selection.js';
import { chainStep } from './routers/rmoe.js';
import { mixedLogits } from './routers/similarity.js';
import { newForwardContext, type ForwardContext } from './routers/router.js';
import type { FfnWeights, GruWeights, MoESubnetLayer, SubnetLayer, WeightArray } from './subnetLayers.js';

const t = (w: WeightArray) => tf.tensor(w.data, w.shape);

function ffn(x: tf.Tensor2D, f: FfnWeights, layer: MoESubnetLayer): tf.Tensor2D {
  const h = activate(tf.add(tf.matMul(x, t(f.w1) as tf.Tensor2D), t(f.b1)), layer.activation) as tf.Tensor2D;
  return tf.add(tf.matMul(h, t(f.w2) as tf.Tensor2D), t(f.b2)) as tf.Tensor2D;
}

const gruOf = (g: GruWeights) => ({ wx: t(g.wx), bx: t(g.bx), wh: t(g.wh), bh: t(g.bh) });

/**
 * An exported MoE layer's router logits: x · router (+ bias), or, for RMoE, GRU(x · proj, the chain's
 * previous state) · router; plus the gating residual of the previous layer's logits. Updates `ctx`.
 */
export function subnetRouterLogits(x: tf.Tensor2D, m: MoESubnetLayer, ctx: ForwardContext): tf.Tensor2D {
  const S = m.columns.length;
  const rec = m.recurrent;
  const input = rec ? chainStep(ctx.state, rec.chain, tf.matMul(x, t(rec.proj) as tf.Tensor2D) as tf.Tensor2D, rec.gru ? gruOf(rec.gru) : null) : x;
  let logits = tf.matMul(input, t(m.router) as tf.Tensor2D) as tf.Tensor2D;
  if (m.routerBias) logits = tf.add(logits, t(m.routerBias)) as tf.Tensor2D;
  // Similarity-aware routing: the distribution mixed over the rows routed together (log p̃ as logits).
  if (m.similarity) logits = mixedLogits(x, logits, t(m.similarity.ws) as tf.Tensor2D, m.similarity.temperature);
  if (m.gateResidual && ctx.logits && ctx.logits.shape[1] === S) logits = tf.add(logits, tf.matMul(ctx.logits, t(m.gateResidual) as tf.Tensor2D)) as tf.Tensor2D;
  ctx.logits = logits;
  return logits;
}

function moe(x: tf.Tensor2D, m: MoESubnetLayer, ctx: ForwardContext): tf.Tensor2D {
  const [T] = x.shape;
  const S = m.columns.length;
  const logits = subnetRouterLogits(x, m, ctx);
  const probs = tf.softmax(logits) as tf.Tensor2D;
  const p = probs.dataSync();
  const mask = selectionMask(m.gating, p, T, S);
  const chosen = tf.tensor2d(Float32Array.from(mask.data), [T, S]);
  let gate = tf.mul(probs, chosen) as tf.Tensor2D;
  if (m.normalize) {
    const computing = tf.tensor1d(m.columns.map((c) => (c === 'null' || c === 'zero' ? 0 : 1)));
    gate = renormalizedGates(logits, tf.mul(chosen, computing) as tf.Tensor2D);
  }
  let y: tf.Tensor2D = m.residual ? x : tf.zeros(x.shape);
  let constant = 0;
  m.columns.forEach((kind, c) => {
    const gc = gate.slice([0, c], [T, 1]);
    if (kind === 'ffn') y = tf.add(y, tf.mul(gc, ffn(x, m.experts[c]!, m)));
    else if (kind === 'copy') y = tf.add(y, tf.mul(gc, x));
    else if (kind === 'constant') {
      const j = constant++;
      const row = t(m.constants!).slice([j, 0], [1, m.dim]);
      const alpha = tf.softmax(tf.matMul(x, (t(m.constantGate!) as tf.Tensor2D).slice([0, 2 * j], [m.dim, 2]))) as tf.Tensor2D;
      const mixed = tf.add(tf.mul(alpha.slice([0, 0], [T, 1]), x), tf.mul(alpha.slice([0, 1], [T, 1]), row));
      y = tf.add(y, tf.mul(gc, mixed));
    }
  });
  for (const f of m.shared) y = tf.add(y, ffn(x, f, m));
  return y;
}

/** Logits of the subnet for a batch x ([N, ...inputShape]), inference mode. */
export function runSubnetLayers(layers: readonly SubnetLayer[], x: tf.Tensor): tf.Tensor2D {
  return tf.tidy(() => {
    let h = x;
    const ctx = newForwardContext();
    for (const l of layers) {
      switch (l.kind) {
        case 'flatten':
          h = tf.reshape(h, [h.shape[0]!, -1]);
          break;
        case 'globalAvgPool':
          h = tf.mean(h, [1, 2]);
          break;
        case 'dense': {
          const y = activate(tf.add(tf.matMul(h as tf.Tensor2D, t(l.kernel) as tf.Tensor2D), t(l.bias)), l.activation);
          h = l.residual ? tf.add(h, y) : y;
          break;
        }
        case 'conv': {
          let y: tf.Tensor = conv2dSame(h as tf.Tensor4D, t(l.kernel) as tf.Tensor4D, l.stride);
          if (l.bias) y = tf.add(y, t(l.bias));
          if (l.batchNorm) {
            const bn = l.batchNorm;
            y = tf.add(tf.mul(tf.sub(y, t(bn.mean)), tf.mul(tf.rsqrt(tf.add(t(bn.variance), bn.epsilon)), t(bn.gamma))), t(bn.beta));
          }
          h = activate(y, l.activation);
          break;
        }
        case 'moe':
          h = moe(h as tf.Tensor2D, l, ctx);
          break;
        case 'head':
          h = tf.add(tf.matMul(h as tf.Tensor2D, t(l.kernel) as tf.Tensor2D), t(l.bias));
          break;
      }
    }
    return h as tf.Tensor2D;
  });
}

/** Parameters the layer list holds (BatchNorm statistics included, as an exported model holds them). */
export function countSubnetLayerParams(layers: readonly SubnetLayer[]): number {
  const n = (w: WeightArray | null | undefined) => w?.data.length ?? 0;
  const f = (x: FfnWeights) => n(x.w1) + n(x.b1) + n(x.w2) + n(x.b2);
  const gru = (g: GruWeights | null | undefined) => (g ? n(g.wx) + n(g.bx) + n(g.wh) + n(g.bh) : 0);
  return layers.reduce((s, l) => {
    switch (l.kind) {
      case 'dense':
      case 'head':
        return s + n(l.kernel) + n(l.bias);
      case 'conv':
        return s + n(l.kernel) + n(l.bias) + (l.batchNorm ? n(l.batchNorm.gamma) * 4 : 0);
      case 'moe':
        return s + n(l.router) + n(l.routerBias) + l.experts.reduce((a, e) => a + f(e), 0) + l.shared.reduce((a, e) => a + f(e), 0) + n(l.constants) + n(l.constantGate) + n(l.gateResidual) + n(l.recurrent?.proj) + gru(l.recurrent?.gru) + n(l.similarity?.ws);
      default:
        return s;
    }
  }, 0);
}
