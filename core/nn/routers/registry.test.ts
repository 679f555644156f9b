/**
 * The Router contract over every registered mode: the schema registry and the router registry list the
 * same modes, and each router's lowering (the subnet graph's selection op over the lowered router kernel,
 * evaluated on the router logits the graph evaluator computes) chooses exactly the slots the training
 * path chose at inference — one selection arithmetic per router.
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRng } from '../../space/rng.js';
import { ROUTING_MODES, routingDescriptors } from '../../space/routing/registry.js';
import { MoEBlock } from '../../space/SearchSpace.js';
import { VariableStore } from '../init.js';
import { MoELayer } from '../moe/MoELayer.js';
import { moeRouterLogits } from '../graph/evaluate.js';
import type { MoEOp } from '../graph/ops.js';
import { routers } from './registry.js';
import { selectionMask } from './selection.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});
const stores: VariableStore[] = [];
afterAll(() => stores.forEach((s) => s.dispose()));

describe('router registry', () => {
  it('has one router per routing descriptor, each with its mode', () => {
    expect(Object.keys(routers).sort()).toEqual([...ROUTING_MODES].sort());
    for (const m of ROUTING_MODES) {
      expect(routers[m].mode).toBe(m);
      expect(routingDescriptors[m].mode).toBe(m);
    }
  });

  it.each(ROUTING_MODES)('%s: the lowered selection equals the training path at inference', (mode) => {
    const store = new VariableStore();
    stores.push(store);
    const block = MoEBlock.parse({ type: 'moe', experts: 5, expertHidden: [8], nullExperts: 1, routing: routingDescriptors[mode].initial });
    const d = 6;
    const layer = new MoELayer('m', block, d, store, createRng(3));
    layer.router.assign(tf.mul(layer.router, 6)); // confident routers, so ties are rare
    const rng = createRng(5);
    const T = 40;
    const xs = Array.from({ length: T * d }, () => rng.normal());
    const x = tf.tensor2d(xs, [T, d]);
    const trained = Array.from(layer.apply(x, 8, { training: false }).report.mask.dataSync());
    const [lowered0] = layer.lower(d, 8);
    const sub = (lowered0!.op === 'residual' ? lowered0!.body[0] : lowered0) as MoEOp;
    const S = sub.slots.length;
    const logits = moeRouterLogits(sub, x);
    const lowered = selectionMask(sub.gating, tf.softmax(logits).dataSync(), T, S);
    // Report masks are in slot order; with no shared experts columns and slots coincide.
    expect(Array.from(lowered.data)).toEqual(trained);
    expect(trained.reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
  });
});
