import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildSupernet } from '../nn/Supernet.js';
import { TrainConfig } from '../protocol/protocol.js';
import { activationMemoryIssues, DEFAULT_ACTIVATION_BUDGET_BYTES, estimateActivationMemory } from './activationMemory.js';
import { largestArch } from './archCodec.js';
import { listExampleSpaces } from './exampleSpaces.js';
import { inputSampleShape, type SearchSpace, type SearchSpaceInput } from './SearchSpace.js';
import { validateSpace } from './validateSpace.js';

function space(input: SearchSpaceInput): SearchSpace {
  const r = validateSpace(input);
  if (!r.ok) throw new Error(`${r.issues[0]!.path}: ${r.issues[0]!.message}`);
  return r.space;
}

const wideMlp = (width: number) =>
  space({ name: 'wide', input: { kind: 'vector', dim: 784 }, numClasses: 10, stages: [{ id: 's', depth: [1], block: { type: 'dense', width: [width] } }] });

describe('activation memory estimate', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it('matches a hand computation for a small dense + MoE config', () => {
    const s = space({
      name: 'small',
      input: { kind: 'vector', dim: 2 },
      numClasses: 3,
      stages: [
        { id: 'a', depth: [1], block: { type: 'dense', width: [8] } },
        { id: 'm', depth: [1], block: { type: 'moe', experts: 2, expertHidden: [4], activation: 'relu', routing: { mode: 'topk', k: 1 }, nullExperts: 1 } },
      ],
    });
    // Batch B = 4. Forward float32 elements:
    //   input 4·2 = 8; dense (matMul, bias, relu) 3·4·8 = 96;
    //   MoE d = 8, S = 2 + 1 null = 3 slots, top-1 → A = 4 assignments, hidden 4:
    //     routing 15·4·3 = 180, dispatch A·B = 16, FFNs A·(4·8 + 3·4 + 1) + E·2·B·d = 180 + 128 = 308,
    //     combine (zeros + residual) 2·4·8 = 64;
    //   head and loss 5·4·3 = 60.  Sum 732 → peak 2·732·4 = 5856 bytes.
    // Parameters (supernetParams bounds a dense block's input by max(input, output) = 8): dense 8·8 + 8
    //   = 72; MoE router 8·3 + 2 experts · (2·8·4 + 4 + 8) = 176; head 8·3 + 3 = 27. Sum 275 → 4 copies
    //   · 275 · 4 = 4400 bytes.
    const est = estimateActivationMemory(s, 4);
    expect(est.weightBytes).toBe(4400);
    expect(est.bytes).toBe(5856 + 4400);
  });

  it('is within 0.7–1.4× of the peak bytes tfjs measures for one training step of each example', async () => {
    for (const ex of listExampleSpaces()) {
      const s = space(ex.space);
      // Sequences hold T tokens a sample (and MoE dispatch is quadratic in tokens): fewer samples keep the step small.
      const B = s.input.kind === 'tokens' || s.input.kind === 'sequence' ? 8 : 96;
      const net = buildSupernet(s);
      const shape = [B, ...inputSampleShape(s.input)];
      // Token inputs are ids, and their head predicts every position.
      const x = s.input.kind === 'tokens' ? tf.floor(tf.randomUniform(shape, 0, s.input.vocab)) : tf.randomNormal(shape);
      const y = tf.oneHot(tf.zeros([s.input.kind === 'tokens' ? B * s.input.length : B], 'int32'), s.numClasses);
      const before = tf.memory().numBytes;
      let step: { value: tf.Scalar; grads: tf.NamedTensorMap } | undefined;
      const prof = await tf.profile(() => {
        step = tf.variableGrads(() => {
          const out = net.apply(x, largestArch(s), { training: true, progress: 0.5 });
          return tf.add(tf.losses.softmaxCrossEntropy(y, out.logits), out.auxLoss) as tf.Scalar;
        }, net.trainableVariables());
      });
      const ratio = estimateActivationMemory(s, B).bytes / (prof.peakBytes - before);
      expect(ratio, ex.id).toBeGreaterThan(0.7);
      expect(ratio, ex.id).toBeLessThan(1.4);
      tf.dispose([step!.value, ...Object.values(step!.grads), x, y]);
    }
  });

  it('refuses batch 65,536 × width 4,096 with the estimate, the limit and the field paths', () => {
    const issues = activationMemoryIssues(wideMlp(4096), 65536);
    expect(issues.map((i) => i.path)).toEqual(['batchSize', 'space.stages[0].block.width']);
    // 65,536 · 4,096 · 3 tensors · 2 · 4 bytes = 6 GiB for the layer alone.
    expect(issues[0]!.message).toMatch(/about \d+\.\d GiB of activation memory at batchSize 65536/);
    expect(issues[0]!.message).toContain('the limit is 4.0 GiB');
    expect(estimateActivationMemory(wideMlp(4096), 65536).bytes).toBeGreaterThan(6 * 1024 ** 3);
    // The same layer at the default batch fits, and a budget is an option.
    expect(activationMemoryIssues(wideMlp(4096), 128)).toEqual([]);
    expect(activationMemoryIssues(wideMlp(4096), 128, 1024 ** 2)[0]!.message).toContain('the limit is 1.0 MiB');
  });

  it("bounds a 'plain' run by the arch it trains, not by the largest subnet", () => {
    const s = space({
      name: 'elastic',
      input: { kind: 'vector', dim: 784 },
      numClasses: 10,
      stages: [{ id: 's', depth: [1, 2], block: { type: 'dense', width: [64, 4096] } }],
    });
    const small = { stages: [{ depth: 1, blocks: [{ op: 'dense', width: 64 }] }] };
    expect(activationMemoryIssues(s, 32768).map((i) => i.path)).toEqual(['batchSize', 'space.stages[0].block.width']);
    expect(activationMemoryIssues(s, 32768, DEFAULT_ACTIVATION_BUDGET_BYTES, small)).toEqual([]);
    // 32,768 · (784 input + 3 · 64 dense + 5 · 10 head) · 2 · 4 bytes, plus the supernet's weight copies.
    const weights = estimateActivationMemory(s, 1).weightBytes;
    expect(estimateActivationMemory(s, 32768, small).bytes).toBe(32768 * (784 + 3 * 64 + 50) * 8 + weights);
    // Not a subnet of the space: bounded by the largest one.
    const bogus = { stages: [{ depth: 9, blocks: [] }] };
    expect(activationMemoryIssues(s, 32768, DEFAULT_ACTIVATION_BUDGET_BYTES, bogus)).toHaveLength(2);
  });

  it('counts null experts as router slots and names them when they dominate', () => {
    const moe = (nullExperts: number) =>
      space({
        name: 'nulls',
        input: { kind: 'vector', dim: 16 },
        numClasses: 2,
        stages: [{ id: 'm', depth: [1], block: { type: 'moe', experts: 2, expertHidden: [8], nullExperts } }],
      });
    const few = estimateActivationMemory(moe(0), 2048).bytes;
    const many = estimateActivationMemory(moe(1024), 2048).bytes;
    // 15 routing tensors · 2,048 tokens · 1,024 more slots · 2 · 4 bytes, plus the larger router's copies.
    expect(many - few).toBe(15 * 2048 * 1024 * 8 + 4 * 16 * 1024 * 4);
    expect(activationMemoryIssues(moe(1024), 2048, 64 * 1024 ** 2).map((i) => i.path)).toEqual(['batchSize', 'space.stages[0].block.nullExperts']);
  });

  it('refuses a million null experts in validation with a clear error', () => {
    const r = validateSpace({
      name: 'nulls',
      input: { kind: 'vector', dim: 2 },
      numClasses: 2,
      stages: [{ id: 'm', depth: [1], block: { type: 'moe', experts: 2, expertHidden: [8], nullExperts: 1_000_000 } }],
    });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.issues[0]).toMatchObject({ path: 'stages[0].block.nullExperts' });
    expect(r.issues[0]!.message).toContain('at most 1024 null experts');
  });

  it('accepts every example space with the default training config', () => {
    for (const ex of listExampleSpaces()) {
      const cfg = TrainConfig.parse({ space: ex.space, data: { kind: 'spirals' } });
      expect(activationMemoryIssues(cfg.space, cfg.batchSize, DEFAULT_ACTIVATION_BUDGET_BYTES), ex.id).toEqual([]);
    }
  });
});
