/**
 * Issue 13, part 2 on one backend: the spirals example trained with each router / block option of this part
 * (top-2 baseline, aux-loss-free bias, capped expert choice, similarity-aware, ProMoE prototypes, residual
 * MoE) — validation accuracy with its split, n and 95 % interval, ms per step, and the last point's routing
 * metrics (load CV, diversity, dead share, fluctuation). One JSON line per configuration.
 *
 *   node --import tsx bench/issue13Routers.ts [--backend webgpu] [--steps 300]
 */
import { loadDataset } from '../core/data/Dataset.js';
import { selectBackend } from '../core/nn/backend.js';
import { buildSupernet } from '../core/nn/Supernet.js';
import { TrainConfig, type BackendChoice, type MetricPoint } from '../core/protocol/protocol.js';
import { listExampleSpaces } from '../core/space/exampleSpaces.js';
import type { SearchSpaceInput } from '../core/space/SearchSpace.js';
import { train } from '../core/train/Trainer.js';

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : dflt;
};
const backend = arg('backend', 'auto') as BackendChoice;
const steps = Number(arg('steps', '300'));

const CONFIGS: { name: string; block: Record<string, unknown> }[] = [
  { name: 'top-2 (baseline)', block: { routing: { mode: 'topk', k: 2 } } },
  { name: 'top-2 + loss-free bias, no aux loss', block: { routing: { mode: 'topk', k: 2, biasUpdateRate: 0.001 }, auxLossWeight: 0 } },
  { name: 'expert choice cf 2, cap 2/token', block: { routing: { mode: 'expert-choice', capacityFactor: 2, maxExpertsPerToken: 2 } } },
  { name: 'similarity-aware top-2', block: { routing: { mode: 'similarity', k: 2 } } },
  { name: 'ProMoE prototypes top-1 + RCL, no aux loss', block: { routing: { mode: 'prototype' }, auxLossWeight: 0 } },
  { name: 'residual MoE (top-1 + dense MLP)', block: { routing: { mode: 'topk', k: 1 }, residualMlp: true } },
];

async function main(): Promise<void> {
  const info = await selectBackend(backend);
  console.log(JSON.stringify({ backend: info.name, device: info.device }));
  const base = listExampleSpaces().find((e) => e.id === 'spirals-moe')!.space;
  for (const c of CONFIGS) {
    const space = { ...base, stages: base.stages.map((st) => (st.block.type === 'moe' ? { ...st, block: { ...st.block, ...c.block } } : st)) } as SearchSpaceInput;
    const config = TrainConfig.parse({ space, data: { kind: 'spirals', samples: 2000, seed: 1 }, strategy: 'plain', steps, batchSize: 64, learningRate: 0.02, evalEvery: Math.max(1, Math.floor(steps / 6)), checkpointEvery: 100000 });
    const ds = await loadDataset(config.data);
    const net = buildSupernet(config.space, { seed: 2 });
    const points: MetricPoint[] = [];
    const t0 = performance.now();
    const res = await train({ config, net, dataset: ds, snapshots: 0, sink: { metrics: (ps) => void points.push(...ps), specialization: () => {}, checkpoint: () => {} } });
    const ms = (performance.now() - t0) / steps;
    const last = points.at(-1)!.moe![0]!;
    const fluct = points.flatMap((p) => (p.moe?.[0]?.fluctuation !== undefined ? [+p.moe[0].fluctuation.toFixed(3)] : []));
    console.log(
      JSON.stringify({
        config: c.name,
        steps,
        msPerStep: +ms.toFixed(1),
        val: res.final ? { split: res.final.val.split, accuracy: +res.final.valAccuracy.toFixed(3), n: res.final.val.n, ci95: res.final.val.ci95.map((v) => +v.toFixed(3)) } : null,
        load: last.load.map((v) => +v.toFixed(3)),
        cv: last.cv !== undefined ? +last.cv.toFixed(3) : null,
        diversity: last.diversity !== undefined ? +last.diversity.toFixed(3) : null,
        collapse: last.collapse,
        fluctuation: fluct,
      }),
    );
    net.dispose();
  }
}

void main();
