/**
 * Every registered router lowers to a selection op that has a writer here, with its mode; where the tfjs
 * writer is absent, the tfjs export refuses with the layer's name and the writer's reason, and ONNX writes
 * the layer.
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MoEOp, SubnetGraph } from '../../nn/graph/ops.js';
import { VariableStore } from '../../nn/init.js';
import { MoELayer } from '../../nn/moe/MoELayer.js';
import { createRng } from '../../space/rng.js';
import { ROUTING_MODES, routingDescriptors } from '../../space/routing/registry.js';
import { MoEBlock } from '../../space/SearchSpace.js';
import { buildOnnxModel } from '../onnxExport.js';
import { buildLayersModel, UnsupportedExportError } from '../tfjsExport.js';
import { selectionWriterOf, selectionWriters } from './registry.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});
const stores: VariableStore[] = [];
afterAll(() => stores.forEach((s) => s.dispose()));

describe('selection-op writers', () => {
  it('are registered by their own mode', () => {
    for (const [mode, w] of Object.entries(selectionWriters)) expect(w.mode).toBe(mode);
  });

  it.each(ROUTING_MODES)('%s: its lowered selection op has a writer; tfjs writes it or refuses with the reason', (mode) => {
    const store = new VariableStore();
    stores.push(store);
    const block = MoEBlock.parse({ type: 'moe', experts: 4, expertHidden: [8], routing: routingDescriptors[mode].initial, residual: false });
    const layer = new MoELayer('m', block, 6, store, createRng(3));
    const op = layer.lower(6, 8)[0] as MoEOp;
    const writer = selectionWriterOf(op.gating);
    expect(writer.mode).toBe(op.gating.mode);
    const graph: SubnetGraph = { input: { kind: 'vector', dim: 6 }, numClasses: 6, ops: [op] };
    expect(buildOnnxModel(graph).graph.node.length).toBeGreaterThan(0);
    // Other MoEOp fields (similarity, prototypes) may refuse tfjs on their own; the selection's refusal names its reason.
    if (!writer.tfjs) expect(() => buildLayersModel(graph)).toThrow(new UnsupportedExportError(`m: ${writer.tfjsUnsupported}`));
  });
});
