import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildSupernet } from '../../nn/Supernet.js';
import { archPositions, decodeArch } from '../../space/archCodec.js';
import { createRng } from '../../space/rng.js';
import type { SearchSpace } from '../../space/SearchSpace.js';
import { validateSpace } from '../../space/validateSpace.js';
import { bestBipartition, candidatePositions, edgeToSplit, matchEdges, pathWithChoice, type MatchDraw } from './gradientMatching.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

function mlpSpace(): SearchSpace {
  const r = validateSpace({
    name: 'gm',
    input: { kind: 'vector', dim: 5 },
    numClasses: 3,
    stages: [
      { id: 's1', depth: [1], block: { type: 'dense', width: [4, 6, 8] } },
      { id: 's2', depth: [1, 2], block: { type: 'dense', width: [2, 4, 6, 8], ops: ['dense', 'identity'], residual: true } },
      { id: 's3', depth: [1], block: { type: 'dense', width: [3, 5] } },
    ],
  });
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.space;
}

const disposers: (() => void)[] = [];
afterAll(() => disposers.forEach((d) => d()));

/** Draws whose paths keep every position active (full depth, no skips), with random widths. */
function draws(space: SearchSpace, n: number, seed: number): MatchDraw[] {
  const rng = createRng(seed);
  const labels = archPositions(space);
  return Array.from({ length: n }, () => {
    const path = labels.map((p) => (p.label.endsWith('.op') ? 0 : p.label === 's2.depth' ? 1 : rng.int(p.choices.length)));
    const x = tf.tensor2d(Array.from({ length: 16 * 5 }, () => rng.normal()), [16, 5]);
    const y = tf.tensor1d(Array.from({ length: 16 }, () => rng.int(3)), 'int32');
    disposers.push(() => tf.dispose([x, y]));
    return { x, y, path };
  });
}

describe('gradient matching (GM-NAS)', () => {
  it('measures each edge by the cosine of its choices\' shared-weight gradients and splits the edge that disagrees most', async () => {
    const space = mlpSpace();
    const net = buildSupernet(space, { seed: 4 });
    disposers.push(() => net.dispose());
    const ds = draws(space, 3, 11);
    const candidates = candidatePositions(space);
    const labels = archPositions(space).map((p) => p.label);
    // Candidates: every position with two or more choices.
    expect(candidates.map((i) => labels[i])).toEqual(['s1.b0.width', 's2.depth', 's2.b0.op', 's2.b0.width', 's2.b1.op', 's2.b1.width', 's3.b0.width']);
    const edges = await matchEdges(space, net, ds, candidates);

    // Independently: plain per-choice gradients of the loss w.r.t. every variable outside the edge's own
    // block (s2.depth owns block s2.b1), flattened to float64 and compared by cosine, averaged over draws.
    const owned = (label: string) => (label === 's2.depth' ? 's2.b1.' : label.slice(0, label.lastIndexOf('.') + 1));
    const vars = [...net.namedVariables()];
    const expected = candidates.map((pos) => {
      const shared = vars.filter(([name]) => !name.startsWith(owned(labels[pos]!))).map(([, v]) => v);
      const n = archPositions(space)[pos]!.choices.length;
      const sim = Array.from({ length: n }, () => new Array<number>(n).fill(0));
      for (const d of ds) {
        const g = Array.from({ length: n }, (_, c) => {
          const path = [...d.path];
          path[pos] = c;
          const arch = decodeArch(space, path);
          const { value, grads } = tf.variableGrads(() => {
            const logits = net.apply(d.x, arch, { training: true }).logits;
            return tf.neg(tf.mean(tf.sum(tf.mul(tf.oneHot(d.y, 3), tf.logSoftmax(logits)), 1))) as tf.Scalar;
          }, shared);
          value.dispose();
          const flat = shared.flatMap((v) => Array.from(grads[v.name]?.dataSync() ?? new Float32Array(v.size)));
          tf.dispose(Object.values(grads));
          return flat;
        });
        const dot = (a: number[], b: number[]) => a.reduce((s, v, i) => s + v * b[i]!, 0);
        for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) sim[i]![j]! += dot(g[i]!, g[j]!) / (Math.sqrt(dot(g[i]!, g[i]!) * dot(g[j]!, g[j]!)) + 1e-6) / ds.length;
      }
      return sim;
    });
    edges.forEach((e, k) => {
      e.similarity.forEach((row, i) => row.forEach((v, j) => expect(v).toBeCloseTo(expected[k]![i]![j]!, 4)));
    });

    // Independently: the best balanced bipartition by brute force over labellings, and the edge with the
    // lowest mean cross-group similarity.
    const brute = (sim: number[][]) => {
      const n = sim.length;
      let best = { within: Infinity, across: 0, a: [] as number[] };
      for (let m = 0; m < 1 << n; m++) {
        const a = [...Array(n).keys()].filter((i) => (m >> i) & 1);
        const b = [...Array(n).keys()].filter((i) => !((m >> i) & 1));
        if (!a.includes(0) || b.length === 0 || Math.min(a.length, b.length) > n / 2) continue;
        let within = 0;
        let across = 0;
        for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) (a.includes(i) === a.includes(j) ? (within += 1 - sim[i]![j]!) : (across += sim[i]![j]!));
        if (within < best.within - 1e-12) best = { within, across: across / (a.length * b.length), a };
      }
      return best;
    };
    const scores = expected.map((sim) => brute(sim).across);
    edges.forEach((e, k) => {
      expect(e.groups[0]).toEqual(brute(expected[k]!).a);
      expect(e.score).toBeCloseTo(scores[k]!, 4);
    });
    const lowest = scores.indexOf(Math.min(...scores));
    // The edges disagree by different amounts (so a fixed or random pick would be caught).
    expect(Math.max(...scores) - Math.min(...scores)).toBeGreaterThan(0.05);
    expect(edgeToSplit(edges).position).toBe(candidates[lowest]);
  });

  it('bipartitions balanced, minimising the within-group distance', () => {
    // Choices 0,1 agree and 2,3 agree: the split separates the pairs.
    const d = [
      [0, 0.1, 0.9, 0.8],
      [0.1, 0, 0.7, 0.9],
      [0.9, 0.7, 0, 0.2],
      [0.8, 0.9, 0.2, 0],
    ];
    expect(bestBipartition(d).groups).toEqual([[0, 1], [2, 3]]);
    expect(bestBipartition(d).within).toBeCloseTo(0.3);
    // Three choices: one alone, the closest two together.
    expect(bestBipartition([[0, 0.5, 0.9], [0.5, 0, 0.1], [0.9, 0.1, 0]]).groups).toEqual([[0], [1, 2]]);
  });

  it('makes the measured position matter: deep enough, and a layer rather than a skip', () => {
    const space = mlpSpace();
    const labels = archPositions(space).map((p) => p.label);
    // s2 at depth 1 with block 0 skipped; measure s2.b1.width.
    const path = labels.map((l) => (l === 's2.b0.op' ? 1 : 0));
    const v = pathWithChoice(space, path, labels.indexOf('s2.b1.width'), 3);
    const arch = decodeArch(space, v);
    expect(arch.stages[1]!.depth).toBe(2);
    expect(arch.stages[1]!.blocks[1]).toEqual({ op: 'dense', width: 8 });
    expect(arch.stages[1]!.blocks[0]).toEqual({ op: 'identity' });
  });
});
