import { describe, expect, it } from 'vitest';
import type { NamedArray } from './checkpointFormat.js';
import { upcycleArrays } from './upcycle.js';

const arr = (name: string, shape: number[], v: number): NamedArray => ({ name, shape, dtype: 'float32', data: new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(v) });

function moeArrays(experts: number, base: number): NamedArray[] {
  const out = [arr('stem.b0.dense.kernel', [4, 3], base), arr('moe.b0.moe.router', [3, experts], base + 0.5)];
  for (let e = 0; e < experts; e++) for (const [p, s] of [['w1', [3, 5]], ['b1', [5]], ['w2', [5, 3]], ['b2', [3]]] as const) out.push(arr(`moe.b0.moe.e${e}.${p}`, [...s], base + 10 * (e + 1)));
  return out;
}

describe('BAM upcycling', () => {
  it('expert k starts as dense run k mod R, routers stay fresh, the rest is the sources\' average', () => {
    const target = moeArrays(4, 0);
    // Two "dense" runs: the same space with one expert.
    const { arrays, report } = upcycleArrays(target, [moeArrays(1, 1), moeArrays(1, 3)]);
    const get = (n: string) => arrays.find((a) => a.name === n)!.data[0];
    expect(get('moe.b0.moe.e0.w1')).toBe(11); // run 0's expert
    expect(get('moe.b0.moe.e1.w1')).toBe(13); // run 1's expert
    expect(get('moe.b0.moe.e2.b2')).toBe(11);
    expect(get('moe.b0.moe.e3.w2')).toBe(13);
    expect(get('moe.b0.moe.router')).toBe(0.5); // the target's fresh router
    expect(get('stem.b0.dense.kernel')).toBe(2); // (1 + 3) / 2
    expect(report.copied).toHaveLength(16);
    expect(report.averaged).toEqual(['stem.b0.dense.kernel']);
    expect(report.fresh).toEqual(['moe.b0.moe.router']);
    // The copies are copies.
    expect(arrays.find((a) => a.name === 'moe.b0.moe.e0.w1')!.data).not.toBe(moeArrays(1, 1)[2]!.data);
  });

  it('leaves shape mismatches at their fresh values and refuses no sources', () => {
    const src = moeArrays(1, 1).map((a) => (a.name.endsWith('e0.w1') ? arr(a.name, [3, 7], 9) : a));
    const { report } = upcycleArrays(moeArrays(2, 0), [src]);
    expect(report.fresh).toContain('moe.b0.moe.e0.w1');
    expect(() => upcycleArrays(moeArrays(2, 0), [])).toThrow(/source/);
  });
});

describe('upcycleFromRuns', () => {
  it('a fresh MoE supernet takes its experts from one-expert runs of the same space', async () => {
    const tf = await import('@tensorflow/tfjs');
    const { mkdtemp } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { selectBackend } = await import('../nn/backend.js');
    const { createTestRun } = await import('../search/createTestRun.js');
    const { listExampleSpaces } = await import('../space/exampleSpaces.js');
    const { SearchSpace } = await import('../space/SearchSpace.js');
    const { TrainConfig } = await import('../protocol/protocol.js');
    const { RunStore } = await import('./RunStore.js');
    const { buildRunSupernet } = await import('./strategies/registry.js');
    const { readVariables } = await import('./Trainer.js');
    const { upcycleFromRuns } = await import('./upcycle.js');
    await selectBackend('cpu');
    const base = listExampleSpaces().find((e) => e.id === 'spirals-moe')!.space as { stages: { block: Record<string, unknown> }[] };
    const withExperts = (n: number) => SearchSpace.parse({ ...base, stages: base.stages.map((s) => (s.block.type === 'moe' ? { ...s, block: { ...s.block, experts: n, routing: { mode: 'topk', k: 1 } } } : s)) });
    const runsDir = join(await mkdtemp(join(tmpdir(), 'sy-upcycle-')), 'runs');
    const data = { kind: 'spirals' as const, classes: 4, samples: 400, noise: 0.2, seed: 1 };
    const dense = [await createTestRun(runsDir, { space: withExperts(1), data, backend: 'cpu', seed: 1 }), await createTestRun(runsDir, { space: withExperts(1), data, backend: 'cpu', seed: 2 })];
    const store = new RunStore(runsDir);
    const src = await Promise.all(dense.map(async (id) => new Map((await store.loadLatestCheckpoint(id))!.variables.map((v) => [v.name, v]))));
    const net = buildRunSupernet(TrainConfig.parse({ space: withExperts(4), data, backend: 'cpu', seed: 3 }));
    const routerBefore = readVariables(net).find((v) => v.name.endsWith('.moe.router'))!;
    const report = await upcycleFromRuns(net, store, dense);
    const after = new Map(readVariables(net).map((v) => [v.name, v]));
    for (let k = 0; k < 4; k++) {
      const name = [...after.keys()].find((n) => n.endsWith(`.moe.e${k}.w1`))!;
      expect(Array.from(after.get(name)!.data)).toEqual(Array.from(src[k % 2]!.get(name.replace(`.e${k}.`, '.e0.'))!.data));
    }
    expect(Array.from(after.get(routerBefore.name)!.data)).toEqual(Array.from(routerBefore.data));
    expect(report.fresh).toContain(routerBefore.name);
    net.dispose();
    tf.disposeVariables();
  });
});
