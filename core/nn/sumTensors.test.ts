import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { ADDN_GROUP, sumTensors } from './sumTensors.js';

describe('sumTensors', () => {
  it('equals the plain sum for 1 to 70 inputs and never hands AddN more than ADDN_GROUP inputs', async () => {
    await tf.setBackend('cpu');
    for (const n of [1, 2, 7, 8, 49, 66, 70]) {
      const values = Array.from({ length: n }, (_, i) => [i + 1, -2 * i]);
      const want = [0, 0];
      for (const v of values) (want[0] += v[0]!), (want[1] += v[1]!);
      const xs = values.map((v) => tf.tensor1d(v));
      let got: number[] = [];
      const profile = await tf.profile(async () => {
        const s = sumTensors(xs);
        got = Array.from(await s.data(), (v) => v + 0);
        s.dispose();
      });
      expect(got).toEqual(want);
      const addNs = profile.kernels.filter((k) => k.name === 'AddN');
      for (const k of addNs) expect(k.inputShapes.length).toBeLessThanOrEqual(ADDN_GROUP);
      if (n >= 2) expect(addNs.length).toBeGreaterThanOrEqual(Math.ceil((n - 1) / (ADDN_GROUP - 1)));
      xs.forEach((x) => x.dispose());
    }
  });
});
