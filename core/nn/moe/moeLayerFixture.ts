/** Test helper: standalone MoE layers from partial block JSON, their variables disposed together. */
import { createRng } from '../../space/rng.js';
import { MoEBlock } from '../../space/SearchSpace.js';
import { VariableStore } from '../init.js';
import { MoELayer } from './MoELayer.js';

/** `defaults` are merged over `{ type: 'moe', experts: 4, expertHidden: [8] }`, each block over them. */
export function moeLayerFixture(defaults: Record<string, unknown> = {}) {
  const stores: VariableStore[] = [];
  const store = (): VariableStore => {
    const s = new VariableStore();
    stores.push(s);
    return s;
  };
  return {
    /** A fresh store, disposed with the others (for layers built from a parsed block). */
    store,
    /** The store of the layer built last. */
    lastStore: (): VariableStore | undefined => stores.at(-1),
    layer(block: Record<string, unknown>, d: number, seed = 1): MoELayer {
      const b = MoEBlock.parse({ type: 'moe', experts: 4, expertHidden: [8], ...defaults, ...block });
      return new MoELayer('m', b, d, store(), createRng(seed));
    },
    dispose(): void {
      stores.forEach((s) => s.dispose());
    },
  };
}

/** T rows of d standard-normal values (times `scale`), from a seeded RNG. */
export function randomRows(T: number, d: number, seed: number, scale = 1): number[][] {
  const rng = createRng(seed);
  return Array.from({ length: T }, () => Array.from({ length: d }, () => rng.normal() * scale));
}
