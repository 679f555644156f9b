import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { largestArch, sampleArch, smallestArch } from '../space/archCodec.js';
import { listExampleSpaces } from '../space/exampleSpaces.js';
import { createRng } from '../space/rng.js';
import { inputSampleShape, type Arch, type SearchSpace, type SearchSpaceInput } from '../space/SearchSpace.js';
import { validateSpace } from '../space/validateSpace.js';
import { countGraphParams, runSubnetGraph } from './graph/evaluate.js';
import { buildSupernet, type ElasticSupernet, recalibrateBatchNorm, subnetGraph } from './Supernet.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});
const nets: ElasticSupernet[] = [];
afterAll(() => nets.forEach((n) => n.dispose()));

function space(input: SearchSpaceInput): SearchSpace {
  const r = validateSpace(input);
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.space;
}
function net(s: SearchSpace, seed = 1): ElasticSupernet {
  const n = buildSupernet(s, { seed });
  nets.push(n);
  return n;
}
function batch(s: SearchSpace, n: number, seed = 2): tf.Tensor {
  const shape = [n, ...inputSampleShape(s.input)];
  const rng = createRng(seed);
  return tf.tensor(Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.normal()), shape);
}
const maxDiff = (a: tf.Tensor, b: tf.Tensor) => tf.max(tf.abs(tf.sub(a, b))).arraySync() as number;

const denseSpace = () =>
  space({
    name: 'dense',
    input: { kind: 'vector', dim: 3 },
    numClasses: 2,
    stages: [{ id: 's1', depth: [1, 2], block: { type: 'dense', width: [4, 6], residual: true } }],
  });

describe('buildSupernet: dense', () => {
  it('names variables stably and lets two supernets coexist', () => {
    const a = net(denseSpace());
    const b = net(denseSpace());
    expect([...a.namedVariables().keys()]).toEqual(['s1.b0.dense.kernel', 's1.b0.dense.bias', 's1.b1.dense.kernel', 's1.b1.dense.bias', 'head.kernel', 'head.bias']);
    expect(a.namedVariables().get('s1.b0.dense.kernel')!.shape).toEqual([3, 6]);
    expect(a.namedVariables().get('s1.b1.dense.kernel')!.shape).toEqual([6, 6]);
    // Same seed, same weights; another seed, other weights.
    expect(maxDiff(a.namedVariables().get('s1.b0.dense.kernel')!, b.namedVariables().get('s1.b0.dense.kernel')!)).toBe(0);
    const c = net(denseSpace(), 9);
    expect(maxDiff(a.namedVariables().get('s1.b0.dense.kernel')!, c.namedVariables().get('s1.b0.dense.kernel')!)).toBeGreaterThan(0);
  });

  it('computes a small subnet from sliced kernels, with the residual only where widths match', () => {
    const s = denseSpace();
    const n = net(s);
    const v = n.namedVariables();
    const x = batch(s, 5);
    const arch: Arch = { stages: [{ depth: 2, blocks: [{ op: 'dense', width: 4 }, { op: 'dense', width: 4 }] }] };
    const k0 = v.get('s1.b0.dense.kernel')!.slice([0, 0], [3, 4]);
    const b0 = v.get('s1.b0.dense.bias')!.slice(0, 4);
    const k1 = v.get('s1.b1.dense.kernel')!.slice([0, 0], [4, 4]);
    const b1 = v.get('s1.b1.dense.bias')!.slice(0, 4);
    const h0 = tf.relu(tf.add(tf.matMul(x as tf.Tensor2D, k0 as tf.Tensor2D), b0)); // 3 → 4: no residual
    const h1 = tf.add(h0, tf.relu(tf.add(tf.matMul(h0 as tf.Tensor2D, k1 as tf.Tensor2D), b1))); // 4 → 4: residual
    const logits = tf.add(tf.matMul(h1 as tf.Tensor2D, v.get('head.kernel')!.slice([0, 0], [4, 2]) as tf.Tensor2D), v.get('head.bias')!);
    expect(maxDiff(n.apply(x, arch, { training: false }).logits, logits)).toBeLessThan(1e-6);

    // Lowered: dense + activation, then the 4 → 4 block inside a residual op, then the head.
    const { ops } = subnetGraph(n, arch);
    expect(ops.map((o) => o.op)).toEqual(['dense', 'activation', 'residual', 'dense']);
    const [l0, , l1] = ops;
    if (l0!.op !== 'dense' || l1!.op !== 'residual') throw new Error('unexpected ops');
    expect([l0.weights.inDim, l0.weights.outDim]).toEqual([3, 4]);
    expect([...l0.weights.kernel]).toEqual([...(k0.dataSync() as Float32Array)]);
    expect(l1.body.map((o) => o.op)).toEqual(['dense', 'activation']);
  });

  it('keeps the first d blocks: weights of a dropped block do not affect a shallower subnet', () => {
    const s = denseSpace();
    const n = net(s);
    const x = batch(s, 4);
    const shallow: Arch = { stages: [{ depth: 1, blocks: [{ op: 'dense', width: 6 }] }] };
    const deep: Arch = { stages: [{ depth: 2, blocks: [{ op: 'dense', width: 6 }, { op: 'dense', width: 6 }] }] };
    const before = [n.apply(x, shallow, { training: false }).logits, n.apply(x, deep, { training: false }).logits];
    n.namedVariables().get('s1.b1.dense.kernel')!.assign(tf.fill([6, 6], 0.5));
    expect(maxDiff(n.apply(x, shallow, { training: false }).logits, before[0]!)).toBe(0);
    expect(maxDiff(n.apply(x, deep, { training: false }).logits, before[1]!)).toBeGreaterThan(0);
  });

  it('counts parameters and FLOPs by hand', () => {
    const n = net(denseSpace());
    const arch: Arch = { stages: [{ depth: 2, blocks: [{ op: 'dense', width: 4 }, { op: 'dense', width: 6 }] }] };
    // 3·4+4, 4·6+6, head 6·2+2
    expect(n.countParams(arch)).toBe(16 + 30 + 14);
    expect(n.countFlops(arch)).toBe(2 * (3 * 4 + 4 * 6 + 6 * 2));
    expect(countGraphParams(subnetGraph(n, arch))).toBe(60);
  });

  it('rejects an arch that is not a subnet, naming the field', () => {
    const n = net(denseSpace());
    expect(() => n.apply(batch(denseSpace(), 2), { stages: [{ depth: 1, blocks: [{ op: 'dense', width: 5 }] }] }, { training: false })).toThrow(
      /stages\[0\]\.blocks\[0\]\.width/,
    );
  });
});

const convSpace = (batchNorm: boolean) =>
  space({
    name: 'conv',
    input: { kind: 'image', height: 6, width: 6, channels: 2 },
    numClasses: 3,
    stages: [
      { id: 'c1', depth: [1, 2], block: { type: 'conv', channels: [3, 4], kernel: [1, 3, 5], stride: 1, batchNorm } },
      { id: 'c2', depth: [1], block: { type: 'conv', channels: [4], kernel: [3], stride: 2, batchNorm } },
    ],
  });

describe('buildSupernet: conv', () => {
  it('uses the centre crop of the largest kernel and the first channels', () => {
    const s = convSpace(false);
    const n = net(s);
    const v = n.namedVariables();
    expect(v.get('c1.b0.conv.kernel')!.shape).toEqual([5, 5, 2, 4]);
    const x = batch(s, 3) as tf.Tensor4D;
    const arch: Arch = { stages: [{ depth: 1, blocks: [{ op: 'conv', channels: 3, kernel: 3 }] }, { depth: 1, blocks: [{ op: 'conv', channels: 4, kernel: 3 }] }] };
    const k1 = v.get('c1.b0.conv.kernel')!.slice([1, 1, 0, 0], [3, 3, 2, 3]) as tf.Tensor4D;
    const h1 = tf.relu(tf.add(tf.conv2d(x, k1, 1, 'same'), v.get('c1.b0.conv.bias')!.slice(0, 3)));
    const k2 = v.get('c2.b0.conv.kernel')!.slice([0, 0, 0, 0], [3, 3, 3, 4]) as tf.Tensor4D;
    const h2 = tf.relu(tf.add(tf.conv2d(h1 as tf.Tensor4D, k2, 2, 'same'), v.get('c2.b0.conv.bias')!));
    const pooled = tf.mean(h2, [1, 2]) as tf.Tensor2D;
    const logits = tf.add(tf.matMul(pooled, v.get('head.kernel')! as tf.Tensor2D), v.get('head.bias')!);
    expect(maxDiff(n.apply(x, arch, { training: false }).logits, logits)).toBeLessThan(1e-5);
    // 3·3·2·3 + 3, 3·3·3·4 + 4, head 4·3 + 3; FLOPs at 6×6 then 3×3 outputs.
    expect(n.countParams(arch)).toBe(57 + 112 + 15);
    expect(n.countFlops(arch)).toBe(2 * (9 * 2 * 3 * 36 + 9 * 3 * 4 * 9 + 4 * 3));
  });

  it('updates BatchNorm running statistics only while training, only for the used channels', () => {
    const s = convSpace(true);
    const n = net(s);
    const mean = () => n.namedVariables().get('c1.b0.bn.mean')!.arraySync() as number[];
    const arch: Arch = { stages: [{ depth: 1, blocks: [{ op: 'conv', channels: 3, kernel: 5 }] }, { depth: 1, blocks: [{ op: 'conv', channels: 4, kernel: 3 }] }] };
    const x = batch(s, 4);
    n.apply(x, arch, { training: false });
    expect(mean()).toEqual([0, 0, 0, 0]);
    n.apply(x, arch, { training: true });
    expect(mean().slice(0, 3).some((m) => m !== 0)).toBe(true);
    expect(mean()[3]).toBe(0);
    expect(n.trainableVariables().some((v) => v.name.endsWith('bn.mean'))).toBe(false);
    expect(n.namedVariables().has('c1.b0.bn.variance')).toBe(true);
  });

  it('recalibrates BatchNorm so inference on the calibration batch equals batch-statistics mode', () => {
    const s = convSpace(true);
    const n = net(s);
    const arch: Arch = { stages: [{ depth: 2, blocks: [{ op: 'conv', channels: 4, kernel: 3 }, { op: 'conv', channels: 3, kernel: 1 }] }, { depth: 1, blocks: [{ op: 'conv', channels: 4, kernel: 3 }] }] };
    const x = batch(s, 8);
    const train = n.apply(x, arch, { training: true }).logits; // batch statistics (also nudges running ones)
    expect(maxDiff(n.apply(x, arch, { training: false }).logits, train)).toBeGreaterThan(1e-3);
    recalibrateBatchNorm(n, arch, [x]);
    // Running stats now equal this batch's statistics (up to the biased/unbiased choice: both biased).
    expect(maxDiff(n.apply(x, arch, { training: false }).logits, train)).toBeLessThan(1e-4);
  });
});

describe('buildSupernet: example spaces', () => {
  // Every example space, token and sequence (transformer) spaces included: their blocks lower to the graph's
  // embedding, layer-norm and attention ops (export checks in core/export/transformerExport.test.ts).
  for (const ex of listExampleSpaces()) {
    it(`${ex.id}: the subnet graph reproduces apply, and counts agree`, () => {
      const s = space(ex.space);
      const n = net(s);
      const input = s.input;
      // Token ids for a token input (integers below the vocabulary); a transformer space is slower per sample.
      const x = input.kind === 'tokens' ? tf.tensor(Array.from({ length: 4 * input.length }, (_, i) => (i * 7 + 3) % input.vocab), [4, input.length]) : batch(s, ex.id.startsWith('fashion-conv') ? 6 : input.kind === 'sequence' ? 4 : 24);
      const rng = createRng(3);
      const archs = [largestArch(s), smallestArch(s), sampleArch(s, rng), sampleArch(s, rng)];
      for (const arch of archs) {
        const out = n.apply(x, arch, { training: false });
        // A token model predicts every position: [N·T, classes].
        expect(out.logits.shape).toEqual([input.kind === 'tokens' ? x.shape[0]! * input.length : x.shape[0], s.numClasses]);
        // One report per MoE stage, and one per kept transformer block with an MoE FFN.
        const transformerMoE = s.stages.reduce((a, st, i) => {
          const sa = arch.stages[i]!;
          return a + (st.block.type === 'transformer' && st.block.moe ? sa.blocks.slice(0, sa.depth).filter((b) => b.op !== 'identity').length : 0);
        }, 0);
        expect(out.moe.length).toBe(s.stages.filter((st) => st.block.type === 'moe').length + transformerMoE);
        const graph = subnetGraph(n, arch);
        expect(maxDiff(tf.reshape(runSubnetGraph(graph, x), out.logits.shape), out.logits)).toBeLessThan(1e-4);
        expect(countGraphParams(graph)).toBe(n.countParams(arch));
      }
      expect(n.countFlops(largestArch(s))).toBeGreaterThan(n.countFlops(smallestArch(s)));
      expect(n.countParams(largestArch(s))).toBeGreaterThan(n.countParams(smallestArch(s)));
    });
  }

  it('sends gradients to the variables the sampled path uses and to none of the others', () => {
    const s = space(listExampleSpaces()[0]!.space); // spirals-moe: stem depth [1, 2], moe top-2 of 4
    const n = net(s);
    const x = batch(s, 32);
    const labels = tf.oneHot(tf.tensor1d(Array.from({ length: 32 }, (_, i) => i % 4), 'int32'), 4);
    const arch: Arch = { stages: [{ depth: 1, blocks: [{ op: 'dense', width: 32 }] }, { depth: 1, blocks: [{ expertHidden: 32 }] }] };
    const vars = n.trainableVariables();
    const { grads } = tf.variableGrads(() => {
      const out = n.apply(x, arch, { training: true });
      return tf.add(tf.losses.softmaxCrossEntropy(labels, out.logits), out.auxLoss) as tf.Scalar;
    }, vars);
    const names = new Map([...n.namedVariables()].map(([k, v]) => [v.name, k]));
    const nonZero = new Set(
      Object.entries(grads)
        .filter(([, g]) => (tf.max(tf.abs(g)).arraySync() as number) > 0)
        .map(([k]) => names.get(k)!),
    );
    expect(nonZero.has('stem.b0.dense.kernel')).toBe(true);
    expect(nonZero.has('moe.b0.moe.router')).toBe(true);
    expect(nonZero.has('head.kernel')).toBe(true);
    expect([...nonZero].filter((k) => k.startsWith('stem.b1'))).toEqual([]);
    // Used experts get gradients only in their first 32 hidden units (elastic hidden width).
    const used = n.moeLayers()[0]!.lastFfnTokens.map((t, i) => (t > 0 ? i : -1)).filter((i) => i >= 0);
    expect(used.length).toBeGreaterThan(0);
    const g = grads[n.namedVariables().get(`moe.b0.moe.e${used[0]}.w1`)!.name]!;
    expect(tf.max(tf.abs(g.slice([0, 0], [32, 32]))).arraySync()).toBeGreaterThan(0);
    expect(tf.max(tf.abs(g.slice([0, 32], [64, 32]))).arraySync()).toBe(0);
  });

  it('sums weighted balance losses and reports every MoE layer', () => {
    const s = space(listExampleSpaces()[1]!.space); // moe-zoo: two MoE layers
    const n = net(s);
    const out = n.apply(batch(s, 16), largestArch(s), { training: true });
    expect(out.moe.map((m) => m.layer)).toEqual(['dyn.b0', 'cap.b0']);
    // plus moe-zoo's top-p dynamic loss on its first layer: 1e-4 × router entropy
    const expected =
      out.moe.reduce((a, m) => a + 0.01 * (m.auxLoss!.arraySync() as number), 0) + 1e-4 * (out.moe[0]!.entropy.arraySync() as number);
    expect(out.auxLoss.arraySync()).toBeCloseTo(expected, 6);
    expect(out.moe[0]!.expertNames).toEqual(['e0', 'e1', 'e2', 'e3', 'e4', 'e5', 'e6', 'e7', 'shared0', 'null0', 'null1', 'zero0', 'copy0', 'const0']);
  });
});

describe('top-p dynamic loss', () => {
  it('adds entropyLossWeight × router entropy to the supernet aux loss', async () => {
    const { SearchSpace } = await import('../space/SearchSpace.js');
    const { largestArch } = await import('../space/archCodec.js');
    const make = (w: number) =>
      SearchSpace.parse({
        name: 't',
        input: { kind: 'vector', dim: 4 },
        numClasses: 2,
        stages: [{ id: 'm', depth: [1], block: { type: 'moe', experts: 3, expertHidden: [4], auxLossWeight: 0, routing: { mode: 'topp', p: 0.7, entropyLossWeight: w } } }],
      });
    const x = tf.randomNormal([16, 4], 0, 1, 'float32', 9);
    const a = buildSupernet(make(0), { seed: 3 });
    const b = buildSupernet(make(0.25), { seed: 3 });
    const ra = a.apply(x, largestArch(a.space), { training: true });
    const rb = b.apply(x, largestArch(b.space), { training: true });
    expect(ra.auxLoss.dataSync()[0]).toBe(0);
    expect(rb.auxLoss.dataSync()[0]).toBeCloseTo(0.25 * rb.moe[0]!.entropy.dataSync()[0]!, 6);
    expect(rb.moe[0]!.entropy.dataSync()[0]).toBeGreaterThan(0.1);
    a.dispose();
    b.dispose();
  });
});
