import { describe, expect, it } from 'vitest';
import { createRng } from '../space/rng.js';
import { denseForward, mat, matMul, solveSpd } from './matrix.js';
import { distillDown, hiddenImportance, keptUnits, sliceHidden } from './slimMoe.js';
import { expertForward, randomExpert, randomRows, relu } from './testExperts.js';

const sqErr = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).reduce((s, v, i) => s + (v - b[i]!) ** 2, 0);

describe('SlimMoE', () => {
  it('solveSpd solves A·X = B for a positive-definite A', () => {
    const rng = createRng(1);
    const g = mat(5, 5, Array.from({ length: 25 }, () => rng.normal()));
    const a = matMul(g, { ...g, data: Float64Array.from({ length: 25 }, (_, i) => g.data[(i % 5) * 5 + Math.floor(i / 5)]!) });
    for (let i = 0; i < 5; i++) a.data[i * 5 + i]! += 0.5;
    const b = mat(5, 2, Array.from({ length: 10 }, () => rng.normal()));
    const x = solveSpd(a, b);
    const back = matMul(a, x);
    for (let i = 0; i < 10; i++) expect(back.data[i]!).toBeCloseTo(b.data[i]!, 9);
    expect(() => solveSpd(mat(2, 2, [1, 2, 2, 1]), mat(2, 1, [1, 1]))).toThrow(/positive definite/);
  });

  it('keeps the hidden units with the largest mean |activation| · ‖outgoing weights‖', () => {
    const e = randomExpert(4, 8, 3);
    const x = randomRows(50, 4, 4);
    const imp = hiddenImportance(e, relu, x, 50);
    // Independently for unit 5.
    const a = denseForward(x, 50, e.up, relu);
    let s = 0;
    for (let t = 0; t < 50; t++) s += Math.abs(a[t * 8 + 5]!);
    const w = Math.hypot(...Array.from({ length: 4 }, (_, o) => e.down.kernel[5 * 4 + o]!));
    expect(imp[5]).toBeCloseTo((s / 50) * w, 5);
    const kept = keptUnits(imp, 3);
    const order = [...imp.keys()].sort((p, q) => imp[q]! - imp[p]!);
    expect(kept).toEqual(order.slice(0, 3).sort((p, q) => p - q));
  });

  it('distillation refits the slim down projection to the teacher: less error than slicing, the least-squares optimum', () => {
    const e = randomExpert(4, 12, 5);
    const x = randomRows(200, 4, 6);
    const units = keptUnits(hiddenImportance(e, relu, x, 200), 4);
    const sliced = sliceHidden(e, units);
    const distilled = distillDown(sliced, e, relu, x, 200, 0);
    const teacher = expertForward(e, x, 200);
    const eSliced = sqErr(expertForward(sliced, x, 200), teacher);
    const eDistilled = sqErr(expertForward(distilled, x, 200), teacher);
    expect(eDistilled).toBeLessThan(0.9 * eSliced);
    // Optimality: nudging any refit weight only increases the error.
    for (const i of [0, 5, 13]) {
      for (const d of [1e-2, -1e-2]) {
        const k = distilled.down.kernel.slice();
        k[i]! += d;
        expect(sqErr(expertForward({ ...distilled, down: { ...distilled.down, kernel: k } }, x, 200), teacher)).toBeGreaterThan(eDistilled);
      }
    }
  });
});
