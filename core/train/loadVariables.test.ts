import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { buildSupernet } from '../nn/Supernet.js';
import zoo from '../../assets/spaces/moe-zoo.json' with { type: 'json' };
import { SearchSpace } from '../space/SearchSpace.js';
import { loadVariables, readVariables } from './Trainer.js';

describe('loading a checkpoint written before variables were added', () => {
  it('keeps later-added MoE variables at their initial values and loads the rest', async () => {
    await tf.setBackend('cpu');
    const space = SearchSpace.parse(zoo);
    const a = buildSupernet(space, { seed: 1 });
    const b = buildSupernet(space, { seed: 2 });
    const saved = readVariables(a);
    const old = saved.filter((v) => !/\.moe\.(constGate|ffnUse)$/.test(v.name));
    expect(old.length).toBeLessThan(saved.length); // the zoo has constant experts / cheap experts
    const initial = new Map(readVariables(b).map((v) => [v.name, v]));
    const absent = loadVariables(b, old);
    expect(absent.sort()).toEqual(saved.filter((v) => !old.includes(v)).map((v) => v.name).sort());
    const after = new Map(readVariables(b).map((v) => [v.name, v]));
    for (const v of old) expect(Array.from(after.get(v.name)!.data)).toEqual(Array.from(v.data));
    for (const name of absent) expect(Array.from(after.get(name)!.data)).toEqual(Array.from(initial.get(name)!.data));
    a.dispose?.();
    b.dispose?.();
  });

  it('still refuses a checkpoint missing any other variable', async () => {
    await tf.setBackend('cpu');
    const space = SearchSpace.parse(zoo);
    const net = buildSupernet(space, { seed: 1 });
    const saved = readVariables(net);
    const victim = saved.find((v) => !/\.moe\.(constGate|ffnUse)$/.test(v.name))!;
    expect(() => loadVariables(net, saved.filter((v) => v !== victim))).toThrow(new RegExp(`no value for variable "${victim.name.replace(/[.]/g, '\\.')}"`));
  });
});
