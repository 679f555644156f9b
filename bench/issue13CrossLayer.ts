/**
 * Issue 13, part 1 on one backend: the spirals example with a three-layer MoE stage trained with each
 * cross-layer / multi-pass mechanism of this part (top-2 baseline, RMoE, Chain-of-Experts C = 2,
 * MomentumSMoE), each with validation accuracy (split, n, 95 % interval) and ms per step; then SCMoE's
 * validation accuracy against β on the baseline, and accuracy under input noise with momentum on and off on
 * the MomentumSMoE run. One JSON line per result.
 *
 *   node --import tsx bench/issue13CrossLayer.ts [--backend webgpu] [--steps 400]
 */
import { selectBackend } from '../core/nn/backend.js';
import type { BackendChoice } from '../core/protocol/protocol.js';
import { largestArch } from '../core/space/archCodec.js';
import { noiseRobustness } from '../core/train/noiseRobustness.js';
import { selfContrastSweep } from '../core/train/selfContrastSweep.js';
import { spiralsRun, spiralsWith } from '../core/train/spiralsRun.js';

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : dflt;
};
const backend = arg('backend', 'auto') as BackendChoice;
const steps = Number(arg('steps', '400'));

const CONFIGS: { name: string; routing: Record<string, unknown>; block?: Record<string, unknown>; after: ('scmoe' | 'noise')[] }[] = [
  { name: 'top-2 (baseline)', routing: { mode: 'topk', k: 2 }, after: ['scmoe'] },
  { name: 'RMoE top-2, GRU 256', routing: { mode: 'rmoe', k: 2, hidden: 256 }, after: [] },
  { name: 'Chain-of-Experts C=2, top-2 per pass', routing: { mode: 'topk', k: 2 }, block: { iterations: 2 }, after: [] },
  { name: 'MomentumSMoE mu 0.7 gamma 1, top-2', routing: { mode: 'topk', k: 2 }, block: { momentum: { mu: 0.7, gamma: 1 } }, after: ['noise', 'scmoe'] },
];

const r3 = (v: number) => +v.toFixed(3);

async function main(): Promise<void> {
  const info = await selectBackend(backend);
  console.log(JSON.stringify({ backend: info.name, device: info.device }));
  for (const c of CONFIGS) {
    const space = spiralsWith(c.routing as never, { depth: [3], block: c.block });
    const { net, config, run } = spiralsRun(space, { steps, learningRate: 0.005, samples: 2000, batchSize: 64, evalEvery: Math.max(1, Math.floor(steps / 4)), realClock: true });
    const { res, points, dataset: ds, msPerStep: ms } = await run();
    const val = res.final ? { split: res.final.val.split, accuracy: r3(res.final.valAccuracy), n: res.final.val.n, ci95: res.final.val.ci95.map(r3) } : null;
    console.log(JSON.stringify({ config: c.name, steps, msPerStep: +ms.toFixed(1), lossFirst: r3(points[0]!.loss), lossLast: r3(points.at(-1)!.loss), val }));
    const arch = res.evalArch ?? largestArch(config.space);
    const data = { split: ds.val, name: 'val', inputShape: ds.inputShape };
    if (c.after.includes('scmoe')) {
      const sweep = await selfContrastSweep(net, arch, data);
      console.log(JSON.stringify({ config: c.name, scmoe: sweep.map((p) => ({ beta: p.beta, accuracy: r3(p.accuracy), n: p.n, ci95: p.ci95.map(r3) })) }));
    }
    if (c.after.includes('noise')) {
      const noise = await noiseRobustness(net, arch, data);
      console.log(JSON.stringify({ config: c.name, noise: noise.map((p) => ({ sigma: p.sigma, momentum: r3(p.momentum.accuracy), plain: r3(p.plain.accuracy), n: p.momentum.n, ciMomentum: p.momentum.ci95.map(r3), ciPlain: p.plain.ci95.map(r3) })) }));
    }
    net.dispose();
  }
}

void main();
