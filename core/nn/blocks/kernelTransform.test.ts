/** OFA's elastic-kernel transformation matrices in the conv block, against a plain-JS computation. */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { createRng } from '../../space/rng.js';
import { SearchSpace, type Arch } from '../../space/SearchSpace.js';
import { buildSupernet } from '../Supernet.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const spaceWith = (kernelTransform: boolean) =>
  SearchSpace.parse({
    version: 1, name: 'ktrans', input: { kind: 'image', height: 6, width: 6, channels: 2 }, numClasses: 3,
    stages: [{ id: 'c', depth: [1], block: { type: 'conv', channels: [3], kernel: [3, 5, 7], batchNorm: false, ...(kernelTransform ? { kernelTransform } : {}) } }],
  });
const arch = (kernel: number): Arch => ({ stages: [{ depth: 1, blocks: [{ op: 'conv', channels: 3, kernel }] }] });

/** Independent: per (cin, cout), crop the centre t×t and multiply the t² taps by M (row-major taps). */
function transformJs(k: number[][][][], from: number, to: number, m: number[][]): number[][][][] {
  const off = (from - to) / 2;
  const cin = k[0]![0]!.length, cout = k[0]![0]![0]!.length;
  const out = Array.from({ length: to }, () => Array.from({ length: to }, () => Array.from({ length: cin }, () => new Array<number>(cout).fill(0))));
  for (let i = 0; i < cin; i++)
    for (let o = 0; o < cout; o++)
      for (let p = 0; p < to * to; p++) {
        let s = 0;
        for (let q = 0; q < to * to; q++) s += m[p]![q]! * k[off + Math.floor(q / to)]![off + (q % to)]![i]![o]!;
        out[Math.floor(p / to)]![p % to]![i]![o] = s;
      }
  return out;
}

describe('conv kernelTransform (OFA elastic kernel)', () => {
  it('starts as the plain centre crop (identity matrices): the same function as without it', () => {
    const a = buildSupernet(spaceWith(true), { seed: 5 });
    const b = buildSupernet(spaceWith(false), { seed: 5 });
    const x = tf.randomNormal([2, 6, 6, 2], 0, 1, 'float32', 3);
    for (const k of [3, 5, 7]) {
      const ya = a.apply(x, arch(k), { training: false }).logits.arraySync();
      const yb = b.apply(x, arch(k), { training: false }).logits.arraySync();
      ya.forEach((r, i) => r.forEach((v, j) => expect(v).toBeCloseTo(yb[i]![j]!, 5)));
    }
    expect([...a.namedVariables().keys()].filter((n) => n.includes('ktrans')).sort()).toEqual(['c.b0.conv.ktrans5to3', 'c.b0.conv.ktrans7to5']);
  });

  it('a 3×3 kernel is 7→5→3 through both learnt matrices (computed independently), and the export reads the same kernel', () => {
    const net = buildSupernet(spaceWith(true), { seed: 6 });
    const vars = net.namedVariables();
    const rng = createRng(8);
    const randomise = (name: string) => {
      const v = vars.get(name)!;
      v.assign(tf.tensor(Array.from({ length: v.size }, () => rng.normal()), v.shape));
      return v.arraySync();
    };
    const m75 = randomise('c.b0.conv.ktrans7to5') as number[][];
    const m53 = randomise('c.b0.conv.ktrans5to3') as number[][];
    const k7 = vars.get('c.b0.conv.kernel')!.arraySync() as number[][][][];
    const want = transformJs(transformJs(k7, 7, 5, m75), 5, 3, m53);
    const conv = net.subnetGraph(arch(3)).ops.find((o) => o.op === 'conv2d');
    if (conv?.op !== 'conv2d') throw new Error('no conv2d op');
    const got = Array.from(conv.kernel);
    expect(got).toHaveLength(3 * 3 * 2 * 3);
    want.flat(3).forEach((v, i) => expect(got[i]).toBeCloseTo(v, 4));
  });

  it('the matrices on the path down to the chosen size get gradients; the largest kernel uses none', () => {
    const net = buildSupernet(spaceWith(true), { seed: 7 });
    const x = tf.randomNormal([2, 6, 6, 2], 0, 1, 'float32', 4);
    const named = net.namedVariables();
    const gradsFor = (k: number) => {
      const { grads } = tf.variableGrads(() => tf.sum(net.apply(x, arch(k), { training: true }).logits) as tf.Scalar, net.trainableVariables());
      return (n: string) => {
        const g = grads[named.get(n)!.name];
        return g ? tf.sum(tf.abs(g)).dataSync()[0]! : 0;
      };
    };
    const g3 = gradsFor(3);
    expect(g3('c.b0.conv.ktrans7to5')).toBeGreaterThan(0);
    expect(g3('c.b0.conv.ktrans5to3')).toBeGreaterThan(0);
    const g5 = gradsFor(5);
    expect(g5('c.b0.conv.ktrans7to5')).toBeGreaterThan(0);
    expect(g5('c.b0.conv.ktrans5to3')).toBe(0);
    const g7 = gradsFor(7);
    expect(g7('c.b0.conv.ktrans7to5')).toBe(0);
  });
});
