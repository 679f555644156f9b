import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildSupernet, recalibrateBatchNorm } from '../nn/Supernet.js';
import { createRng } from '../space/rng.js';
import type { Arch } from '../space/SearchSpace.js';
import { validateSpace } from '../space/validateSpace.js';
import { evaluationBatchNormBatches, hasBatchNorm, recalibrationBatches, withSubnetBatchNorm } from './batchNorm.js';

beforeAll(() => tf.setBackend('cpu'));

function bnSpace() {
  const r = validateSpace({
    name: 'bn', input: { kind: 'image', height: 8, width: 8, channels: 1 }, numClasses: 3,
    stages: [{ id: 'c1', depth: [1, 2], block: { type: 'conv', channels: [4, 8], kernel: [3], batchNorm: true } }],
  });
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.space;
}

describe('withSubnetBatchNorm', () => {
  it("scores a subnet with its own BatchNorm statistics and puts the supernet's back exactly", async () => {
    const space = bnSpace();
    expect(hasBatchNorm(space)).toBe(true);
    const net = buildSupernet(space, { seed: 1 });
    const rng = createRng(2);
    const n = 256;
    const train = { x: Float32Array.from({ length: n * 64 }, () => 3 + 2 * rng.normal()), y: new Int32Array(n), n };
    const batches = recalibrationBatches(train, [8, 8, 1]);
    // Running statistics as a supernet leaves them: a mix that fits no single subnet.
    for (const [name, v] of net.namedVariables()) if (/bn\.(mean|variance)$/.test(name)) v.assign(tf.fill(v.shape, name.endsWith('mean') ? 0.5 : 2));
    const saved = new Map([...net.namedVariables()].filter(([, v]) => !v.trainable).map(([k, v]) => [k, Array.from(v.dataSync())]));
    const small: Arch = { stages: [{ depth: 1, blocks: [{ op: 'conv', channels: 4, kernel: 3 }] }] };
    const x = tf.tensor(train.x.subarray(0, 16 * 64), [16, 8, 8, 1]);
    const logits = () => Array.from(net.apply(x, small, { training: false }).logits.dataSync());
    const mixed = logits();
    const own = await withSubnetBatchNorm(net, small, batches, async () => logits());
    // Restored bit for bit.
    for (const [k, v] of net.namedVariables()) if (!v.trainable) expect(Array.from(v.dataSync()), k).toEqual(saved.get(k));
    expect(logits()).toEqual(mixed);
    // What it scored is the recalibrated subnet (OFA §3.3), not the mixed statistics.
    recalibrateBatchNorm(net, small, batches);
    const reference = logits();
    own.forEach((v, i) => expect(v).toBeCloseTo(reference[i]!, 5));
    expect(Math.max(...own.map((v, i) => Math.abs(v - mixed[i]!)))).toBeGreaterThan(1e-2);
    // The trainer and the final test skip it for one fixed subnet ('plain') and BN-free spaces.
    expect(evaluationBatchNormBatches({ strategy: 'plain', space }, train, [8, 8, 1])).toEqual([]);
    const spos = evaluationBatchNormBatches({ strategy: 'spos', space }, train, [8, 8, 1]);
    expect(spos.length).toBe(2);
    tf.dispose([...batches, ...spos, x]);
    net.dispose();
  });
});
