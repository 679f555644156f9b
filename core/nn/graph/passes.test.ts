/**
 * Graph passes: runPasses applies graph → graph passes in order (order matters for non-commuting passes);
 * a compression method at a level is such a pass and gives what the compression runner gives; the export
 * writers are graph → files passes whose written models reproduce the graph's reference evaluation.
 */
import * as tf from '@tensorflow/tfjs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { compressGraph, compressionPass } from '../../compress/compressGraph.js';
import { compressionMethods } from '../../compress/registry.js';
import { randomRows } from '../../compress/testExperts.js';
import { tinyMoEGraph } from '../../compress/testGraph.js';
import { graphWriters } from '../../export/writers.js';
import { runSubnetGraph } from './evaluate.js';
import type { SubnetGraph } from './ops.js';
import { runPasses, type GraphPass } from './passes.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** Multiply (or add to) every dense kernel: two passes that do not commute. */
const denseMap = (name: string, f: (v: number) => number): GraphPass<number> => ({
  name,
  async run(g) {
    let n = 0;
    const ops = g.ops.map((o) => (o.op === 'dense' ? (n++, { ...o, weights: { ...o.weights, kernel: o.weights.kernel.map(f) } }) : o));
    return { graph: { ...g, ops }, report: n };
  },
});
const graph = (): SubnetGraph => ({
  input: { kind: 'vector', dim: 2 },
  numClasses: 2,
  ops: [{ op: 'dense', name: 'head', weights: { kernel: Float32Array.from([1, 2, 3, 4]), bias: Float32Array.from([0.5, -0.5]), inDim: 2, outDim: 2 } }],
});

describe('graph passes', () => {
  it('runPasses applies passes in order and collects their reports', async () => {
    const double = denseMap('double', (v) => 2 * v);
    const inc = denseMap('inc', (v) => v + 1);
    const a = await runPasses(graph(), [double, inc]);
    const b = await runPasses(graph(), [inc, double]);
    expect([...(a.graph.ops[0] as { weights: { kernel: Float32Array } }).weights.kernel]).toEqual([3, 5, 7, 9]);
    expect([...(b.graph.ops[0] as { weights: { kernel: Float32Array } }).weights.kernel]).toEqual([4, 6, 8, 10]);
    expect(a.reports).toEqual([
      { pass: 'double', report: 1 },
      { pass: 'inc', report: 1 },
    ]);
  });

  it('a compression method at a level is a graph pass equal to the compression runner', async () => {
    const g = tinyMoEGraph();
    const x = tf.tensor2d(randomRows(64, 6, 5), [64, 6]);
    const method = compressionMethods['mc-smoe'];
    const level = method.levels[0]!;
    const viaPass = await runPasses(g, [compressionPass(method, level)], { calibX: x });
    const direct = await compressGraph(g, method, level, x);
    expect(maxDiff(runSubnetGraph(viaPass.graph, x), runSubnetGraph(direct.graph, x))).toBe(0);
    expect(viaPass.reports[0]!.report).toEqual(direct.layers);
    await expect(runPasses(g, [compressionPass(method, level)])).rejects.toThrow(/calibration inputs/);
    x.dispose();
  });

  it('every writer writes a model that reproduces the graph', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'writers-'));
    try {
      const g = graph();
      const x = tf.tensor2d([0.3, -1, 2, 0.5], [2, 2]);
      const ref = await runSubnetGraph(g, x).data();
      for (const [format, w] of Object.entries(graphWriters)) {
        const written = await w.write(g, join(dir, format), { description: 't', metadata: {} });
        expect(written.files.length).toBeGreaterThan(0);
        const out = await written.run(x);
        expect(Math.max(...[...out].map((v, i) => Math.abs(v - ref[i]!)))).toBeLessThan(1e-5);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

function maxDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.max(tf.abs(tf.sub(a, b))).arraySync() as number;
}
