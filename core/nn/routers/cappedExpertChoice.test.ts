/**
 * Capped expert choice (Zhou et al., 2022, §3.3): the Dykstra solution of the entropy-regularised program
 * against a float64 plain-JS computation and its constraints; the rounded choice against the brute-force
 * optimum of the integer program; the cap is what keeps a token at ≤ b experts (plain expert choice gives
 * it more); the layer trains with it; the graph and ONNX equal the supernet.
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDataset } from '../../data/Dataset.js';
import { exportedLogits } from '../../export/exportRoundTrip.js';
import { runSubnetGraph } from '../graph/evaluate.js';
import { TrainConfig } from '../../protocol/protocol.js';
import { largestArch } from '../../space/archCodec.js';
import { listExampleSpaces } from '../../space/exampleSpaces.js';
import { createRng } from '../../space/rng.js';
import { ExpertChoiceRouting, expertCapacity } from '../../space/routing/expertChoice.js';
import { SearchSpace, type SearchSpaceInput } from '../../space/SearchSpace.js';
import { train } from '../../train/Trainer.js';
import { expertChoiceMask } from '../moe/routers.js';
import { moeLayerFixture, randomRows } from '../moe/moeLayerFixture.js';
import { buildSupernet, subnetGraph } from '../Supernet.js';
import { cappedAssignment, cappedAssignmentTensor, cappedExpertChoiceMask, DEFAULT_CAP_ENTROPY, DEFAULT_CAP_ITERATIONS } from './cappedExpertChoice.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});
const layers = moeLayerFixture({ activation: 'relu' });
afterAll(() => layers.dispose());

const cap2 = { maxPerToken: 2, entropy: DEFAULT_CAP_ENTROPY, iterations: DEFAULT_CAP_ITERATIONS };
// 6 tokens × 3 experts: tokens 0, 1 are undecided, 2–3 prefer expert 0, 4–5 expert 2 (small offsets: no ties).
const P = [
  [0.34, 0.332, 0.328], [0.335, 0.334, 0.331], [0.6, 0.21, 0.19], [0.59, 0.2, 0.21], [0.2, 0.19, 0.61], [0.21, 0.2, 0.59],
];
const flat = P.flat();

/** Brute force: every assignment with ≤ b experts per token and exactly C tokens per expert; the best Σ p. */
function bruteForce(p: number[][], C: number, b: number): number[][] {
  const S = p[0]!.length;
  const subsets = Array.from({ length: 2 ** S }, (_, m) => m).filter((m) => m.toString(2).split('').filter((c) => c === '1').length <= b);
  let best = -Infinity;
  let arg: number[] = [];
  const pick: number[] = [];
  const walk = (t: number) => {
    if (t === p.length) {
      const counts = new Array<number>(S).fill(0);
      let score = 0;
      pick.forEach((m, tt) => { for (let s = 0; s < S; s++) if (m & (1 << s)) { counts[s]!++; score += p[tt]![s]!; } });
      if (counts.every((c) => c === C) && score > best) { best = score; arg = [...pick]; }
      return;
    }
    for (const m of subsets) { pick[t] = m; walk(t + 1); }
  };
  walk(0);
  return arg.map((m) => Array.from({ length: S }, (_, s) => ((m >> s) & 1)));
}

describe('capped expert choice', () => {
  it('schema: uncapped unless set; the cap bounds the choices per token', () => {
    expect(ExpertChoiceRouting.parse({ mode: 'expert-choice' })).toEqual({ mode: 'expert-choice', capacityFactor: 2 });
    expect(ExpertChoiceRouting.parse({ mode: 'expert-choice', maxExpertsPerToken: 2 }).maxExpertsPerToken).toBe(2);
  });

  it('Dykstra (float32 tensors) equals the float64 reference and meets the constraints', () => {
    const T = 24;
    const S = 4;
    const rng = createRng(3);
    const probs = Array.from({ length: T }, () => { const z = Array.from({ length: S }, () => rng.normal()); const e = z.map(Math.exp); const s = e.reduce((a, b) => a + b, 0); return e.map((v) => v / s); });
    const C = expertCapacity(1, T, S); // 6 per expert: 24 assignments of the cap's 48 (not tight)
    const ref = cappedAssignment(probs.flat(), T, S, C, cap2);
    const got = cappedAssignmentTensor(tf.tensor2d(probs), C, cap2).dataSync();
    for (let i = 0; i < T * S; i++) expect(got[i]).toBeCloseTo(ref[i]!, 4);
    for (let t = 0; t < T; t++) expect(ref.slice(t * S, t * S + S).reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(2.02);
    for (let s = 0; s < S; s++) expect(Array.from({ length: T }, (_, t) => ref[t * S + s]!).reduce((a, b) => a + b, 0)).toBeCloseTo(C, 1);
    for (const v of ref) expect(v).toBeLessThanOrEqual(1 + 1e-9);
  });

  it('chooses the optimum of the capped integer program (small λ), near it at the defaults; plain expert choice exceeds the cap', () => {
    const T = 6;
    const S = 3;
    const C = expertCapacity(2, T, S); // 4 tokens per expert: with b = 2 every token gets exactly 2
    const best = bruteForce(P, C, 2);
    const score = (rows: number[][]) => rows.reduce((a, r, t) => a + r.reduce((b, v, s) => b + v * P[t]![s]!, 0), 0);
    const rowsOf = (cap: typeof cap2) => {
      const m = cappedExpertChoiceMask(flat, T, S, C, cap);
      return Array.from({ length: T }, (_, t) => Array.from(m.data.slice(t * S, t * S + S)));
    };
    // λ → 0 with enough Dykstra iterations: the entropic program's rounding is an optimum of the integer program.
    const fine = rowsOf({ maxPerToken: 2, entropy: 0.01, iterations: 300 });
    // (the optimum is not unique here — tokens 4 and 5 can swap experts 0 and 1 — so compare scores)
    expect(score(fine)).toBeCloseTo(score(best), 9);
    for (const r of fine) expect(r.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(2);
    for (let e = 0; e < S; e++) expect(fine.reduce((a, r) => a + r[e]!, 0)).toBe(C);
    // The defaults: the cap holds; this tight case (S·C = b·T) leaves one expert a token short (11 of 12).
    const rows = rowsOf(cap2);
    for (const r of rows) expect(r.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(2);
    expect(rows.flat().reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(11);
    expect(score(rows)).toBeGreaterThan(0.95 * score(best));
    // Without the cap the undecided tokens 0 and 1 are taken by all three experts.
    const plain = expertChoiceMask(flat, T, S, C);
    expect(Array.from(plain.data.slice(0, S)).reduce((a, b) => a + b, 0)).toBe(3);
  });

  it('at the defaults, fills ≥ 95 % of the experts\' capacity in the tight EC-CAP2 case (64 tokens, 8 experts, cf 2)', () => {
    const rng = createRng(1);
    const T = 64;
    const S = 8;
    const probs = Array.from({ length: T }, () => {
      const e = Array.from({ length: S }, () => Math.exp(rng.normal()));
      const sum = e.reduce((a, b) => a + b, 0);
      return e.map((v) => v / sum);
    }).flat();
    const C = expertCapacity(2, T, S);
    const m = cappedExpertChoiceMask(probs, T, S, C, cap2);
    for (let t = 0; t < T; t++) expect(m.data.slice(t * S, t * S + S).reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(2);
    const filled = m.data.reduce((a, b) => a + b, 0);
    expect(filled).toBeGreaterThanOrEqual(0.95 * S * C);
    console.log(`capped EC defaults (λ ${cap2.entropy}, ${cap2.iterations} iterations), 64 tokens × 8 experts, cf 2, cap 2: ${filled} of ${S * C} expert slots filled`);
  });

  it('the layer keeps every token at ≤ b experts while training, and the spirals example trains with it', async () => {
    const l = layers.layer({ routing: { mode: 'expert-choice', capacityFactor: 2, maxExpertsPerToken: 1 } }, 6);
    const { report } = l.apply(tf.tensor2d(randomRows(40, 6, 9)), 8, { training: true });
    const mask = report.mask.arraySync() as number[][];
    for (const r of mask) expect(r.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(1);
    expect(report.meanActive.dataSync()[0]).toBeLessThanOrEqual(1);

    const base = listExampleSpaces().find((e) => e.id === 'spirals-moe')!.space;
    const space: SearchSpaceInput = { ...base, stages: base.stages.map((st) => (st.block.type === 'moe' ? { ...st, block: { ...st.block, routing: { mode: 'expert-choice', capacityFactor: 2, maxExpertsPerToken: 2 } } } : st)) };
    const config = TrainConfig.parse({ space, data: { kind: 'spirals', samples: 600, seed: 1 }, strategy: 'plain', steps: 150, batchSize: 32, learningRate: 0.02, evalEvery: 150, checkpointEvery: 1000 });
    const net = buildSupernet(config.space, { seed: 2 });
    const losses: number[] = [];
    const active: number[] = [];
    let t = 0;
    const res = await train({
      config, net, dataset: await loadDataset(config.data), now: () => (t += 10), snapshots: 0,
      sink: { metrics: (ps) => ps.forEach((p) => { losses.push(p.loss); p.moe?.forEach((m) => active.push(m.meanActive)); }), specialization: () => {}, checkpoint: () => {} },
    });
    expect(res.status).toBe('completed');
    const mean = (a: number[]) => a.reduce((x, y) => x + y, 0) / a.length;
    expect(mean(losses.slice(-20))).toBeLessThan(mean(losses.slice(0, 20)));
    expect(Math.max(...active)).toBeLessThanOrEqual(2);
    console.log(`spirals, capped expert choice (cf 2, ≤2/token), 150 steps: loss ${mean(losses.slice(0, 20)).toFixed(3)} → ${mean(losses.slice(-20)).toFixed(3)}, val accuracy ${res.final!.valAccuracy.toFixed(3)} (${res.final!.val.split}, n=${res.final!.val.n}, 95% CI ${res.final!.val.ci95.map((v) => v.toFixed(3)).join('–')}), experts/token ${mean(active).toFixed(2)}`);
    net.dispose();
  }, 120_000);

  it('exports: the graph and ONNX equal the supernet within 1e-4 (tfjs refuses expert choice)', async () => {
    const base = listExampleSpaces().find((e) => e.id === 'spirals-moe')!.space;
    const space = SearchSpace.parse({ ...base, stages: base.stages.map((st) => (st.block.type === 'moe' ? { ...st, block: { ...st.block, routing: { mode: 'expert-choice', capacityFactor: 2, maxExpertsPerToken: 1 } } } : st)) });
    const net = buildSupernet(space, { seed: 4 });
    const rng = createRng(5);
    const x = tf.tensor2d(Array.from({ length: 64 * 2 }, () => rng.normal() * 2), [64, 2]);
    const arch = largestArch(space);
    const apply = net.apply(x, arch, { training: false }).logits.dataSync();
    const maxDiff = (a: ArrayLike<number>) => Array.from(a).reduce((m, v, i) => Math.max(m, Math.abs(v - apply[i]!)), 0);
    const graph = subnetGraph(net, arch);
    expect(maxDiff(runSubnetGraph(graph, x).dataSync())).toBeLessThan(1e-4);
    const ort = await import('onnxruntime-node');
    const { encodeOnnxGraph } = await import('../../export/onnxExport.js');
    const session = await ort.InferenceSession.create(encodeOnnxGraph(graph));
    const onnx = (await session.run({ input: new ort.Tensor('float32', Float32Array.from(x.dataSync()), x.shape) })).logits!.data as Float32Array;
    expect(maxDiff(onnx)).toBeLessThan(1e-4);
    await expect(exportedLogits(graph, x)).rejects.toThrow(/expert-choice/);
    // The cap matters: the uncapped graph computes something else.
    const uncapped = graph.ops.map((o) => (o.op === 'residual' ? { ...o, body: o.body.map((b) => (b.op === 'moe' ? { ...b, gating: { mode: 'expert-choice' as const, capacityFactor: 2 } } : b)) } : o));
    expect(maxDiff(runSubnetGraph({ ...graph, ops: uncapped }, x).dataSync())).toBeGreaterThan(1e-3);
    net.dispose();
  });
});
