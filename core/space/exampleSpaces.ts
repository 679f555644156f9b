/**
 * The example search spaces shipped in assets/spaces/, offered by `space.examples` and the space editor.
 */
import charLm from '../../assets/spaces/char-lm-fortunes.json' with { type: 'json' };
import fashionConv from '../../assets/spaces/fashion-conv-supernet.json' with { type: 'json' };
import fashionVit from '../../assets/spaces/fashion-vit-moe.json' with { type: 'json' };
import fashionMlp from '../../assets/spaces/fashion-mlp-supernet.json' with { type: 'json' };
import fashionMoeBits from '../../assets/spaces/fashion-moe-bits.json' with { type: 'json' };
import moeReluTopk from '../../assets/spaces/moe-relu-topk.json' with { type: 'json' };
import moeZoo from '../../assets/spaces/moe-zoo.json' with { type: 'json' };
import sequenceTasks from '../../assets/spaces/sequence-tasks-moe.json' with { type: 'json' };
import spiralsMoe from '../../assets/spaces/spirals-moe.json' with { type: 'json' };
import type { SearchSpaceInput } from './SearchSpace.js';

export interface ExampleSpace {
  id: string;
  title: string;
  space: SearchSpaceInput;
}

const EXAMPLES: readonly { id: string; space: unknown }[] = [
  { id: 'spirals-moe', space: spiralsMoe },
  { id: 'moe-zoo', space: moeZoo },
  { id: 'fashion-mlp-supernet', space: fashionMlp },
  { id: 'fashion-conv-supernet', space: fashionConv },
  { id: 'moe-relu-topk', space: moeReluTopk },
  { id: 'char-lm-fortunes', space: charLm },
  { id: 'sequence-tasks-moe', space: sequenceTasks },
  { id: 'fashion-vit-moe', space: fashionVit },
  { id: 'fashion-moe-bits', space: fashionMoeBits },
];

/** Every example, as written in its JSON file (defaults not filled in); a fresh copy on each call. */
export function listExampleSpaces(): ExampleSpace[] {
  return EXAMPLES.map(({ id, space }) => {
    const copy = structuredClone(space) as SearchSpaceInput;
    return { id, title: copy.name, space: copy };
  });
}
