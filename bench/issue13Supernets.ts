/**
 * Issue 13, the supernet-side mechanisms on one backend: DeepSpeed-MoE PR-MoE (expert counts per layer as a
 * choice; a 2|4 → 4|8 pyramid space) and Mixture-of-Supernets (the spirals stem's dense weights mixed by a
 * router on the architecture), each against the same space without the mechanism, trained with the sandwich
 * rule. Per run: ms per step and the smallest and largest subnets' validation accuracy (n, 95 % Wilson
 * interval), params of each, and for MoS the mixing weights α of both. One JSON line per configuration.
 *
 *   node --import tsx bench/issue13Supernets.ts [--backend webgpu] [--steps 300]
 */
import { loadDataset } from '../core/data/Dataset.js';
import { selectBackend } from '../core/nn/backend.js';
import { readVariablesForSlicing } from '../core/nn/moe/MoELayer.js';
import { buildSupernet } from '../core/nn/Supernet.js';
import { accuracyInterval } from '../core/protocol/accuracyInterval.js';
import { TrainConfig, type BackendChoice } from '../core/protocol/protocol.js';
import { largestArch, smallestArch, describeArch } from '../core/space/archCodec.js';
import { archFeatures } from '../core/space/archFeatures.js';
import type { SearchSpaceInput } from '../core/space/SearchSpace.js';
import { evaluateArch } from '../core/train/evaluate.js';
import { spiralsWith } from '../core/train/spiralsRun.js';
import { train } from '../core/train/Trainer.js';

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : dflt;
};
const backend = arg('backend', 'auto') as BackendChoice;
const steps = Number(arg('steps', '300'));

const pyramid = (counts: boolean): SearchSpaceInput =>
  ({
    version: 1,
    name: counts ? 'PR-MoE pyramid' : 'fixed 4 → 8 experts',
    input: { kind: 'vector', dim: 2 },
    numClasses: 4,
    stages: [
      { id: 'stem', depth: [1], block: { type: 'dense', width: [32, 64], activation: 'relu' } },
      { id: 'moe1', depth: [1], block: { type: 'moe', experts: 4, ...(counts ? { expertCounts: [2, 4] } : {}), expertHidden: [16, 32], routing: { mode: 'topk', k: 2 } } },
      { id: 'moe2', depth: [1], block: { type: 'moe', experts: 8, ...(counts ? { expertCounts: [4, 8] } : {}), expertHidden: [16, 32], routing: { mode: 'topk', k: 2 } } },
    ],
  }) as SearchSpaceInput;

const mos = (on: boolean): SearchSpaceInput => {
  const s = spiralsWith({ mode: 'topk', k: 2 });
  return { ...s, name: on ? 'spirals, MoS stem' : 'spirals', stages: s.stages.map((st) => (on && st.block.type === 'dense' ? { ...st, block: { ...st.block, archMixture: { sets: 2, hidden: 128 } } } : st)) } as SearchSpaceInput;
};

const CONFIGS: { name: string; space: SearchSpaceInput; lr: number }[] = [
  { name: 'fixed 4 → 8 experts', space: pyramid(false), lr: 0.02 },
  { name: 'PR-MoE 2|4 → 4|8 experts', space: pyramid(true), lr: 0.02 },
  { name: 'spirals (sandwich)', space: mos(false), lr: 0.005 },
  { name: 'spirals, Mixture-of-Supernets stem (2 sets, hidden 128)', space: mos(true), lr: 0.005 },
];

async function main(): Promise<void> {
  const info = await selectBackend(backend);
  console.log(JSON.stringify({ backend: info.name, device: info.device }));
  for (const c of CONFIGS) {
    const config = TrainConfig.parse({ space: c.space, data: { kind: 'spirals', samples: 2000, seed: 1 }, strategy: 'sandwich', steps, batchSize: 64, learningRate: c.lr, evalEvery: steps, checkpointEvery: 100000 });
    const ds = await loadDataset(config.data);
    const net = buildSupernet(config.space, { seed: 2 });
    const t0 = performance.now();
    await train({ config, net, dataset: ds, snapshots: 0, sink: { metrics: () => {}, specialization: () => {}, checkpoint: () => {} } });
    const ms = (performance.now() - t0) / steps;
    await readVariablesForSlicing(net.namedVariables().values());
    const subnets = [];
    for (const [label, arch] of [['smallest', smallestArch(net.space)], ['largest', largestArch(net.space)]] as const) {
      const e = await evaluateArch(net, arch, ds.val, { inputShape: ds.inputShape });
      const block = net.blocks[0]![0] as unknown as { mixingWeights?(a: readonly number[]): number[] | null };
      const alpha = block.mixingWeights?.(archFeatures(net.space, arch)) ?? null;
      subnets.push({ subnet: label, arch: describeArch(net.space, arch), params: net.countParams(arch), val: { split: 'val', accuracy: +e.accuracy.toFixed(3), n: e.samples, ci95: accuracyInterval(Math.round(e.accuracy * e.samples), e.samples).map((v) => +v.toFixed(3)) }, ...(alpha ? { alpha: alpha.map((v) => +v.toFixed(3)) } : {}) });
    }
    console.log(JSON.stringify({ config: c.name, steps, lr: c.lr, msPerStep: +ms.toFixed(1), subnets }));
    net.dispose();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
