/**
 * Supernet training strategies judged by ranking quality (issue 14), one command:
 *
 *   npm run bench:strategies -- [--space fashion-mlp-supernet,fashion-conv-supernet] [--steps 400] [--subnets 8] [--rank-steps 300]
 *     [--seeds 2] [--limit 8000] [--val-fraction 0.25] [--batch 128] [--population 12] [--generations 3] [--strategies spos,bignas,…]
 *     [--backend wasm|cpu|webgpu|auto] [--data-dir DIR] [--runs-dir DIR] [--out FILE.json]
 *
 * For each space of `--space` (default: the Fashion-MNIST MLP and conv spaces, one table for both) and every
 * registered training strategy (plain excepted: it trains one fixed subnet) it trains the space on the same
 * Fashion-MNIST subset for the same steps, then runs the ranking tool (core/search/rankRun:
 * Kendall τ-b and Spearman ρ between inherited and standalone validation accuracy of N subnets spread by
 * parameter count, with the seed-to-seed noise floor) and an NSGA-II search for accuracy vs parameters
 * (hypervolume of its front on inherited validation accuracy, parameters normalised by the largest subnet's,
 * reference (error 1, 1.1)). The standalone trainings do not depend on the strategy (same subnets, seeds,
 * steps, data and optimiser), so each is trained once and reused for every strategy.
 *
 * The default backend is wasm (the same figures as cpu, several times faster; the run is deterministic).
 * For the MLP space the defaults take about 20 minutes of one CPU core (estimated from the 800-step run in
 * the README: there each strategy's process took 40–160 s of training and the 30 standalone trainings 30 s
 * each); the conv space's steps cost more (not measured yet). The figures they give are small-sample ones
 * (their τ is over `subnets` points; compare it with the noise floor).
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rename, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadDataset, type Dataset } from '../core/data/Dataset.js';
import { selectBackend } from '../core/nn/backend.js';
import { buildSupernet } from '../core/nn/Supernet.js';
import { EventHub } from '../core/protocol/EventHub.js';
import { TRAINING_STRATEGY_NAMES, type TrainingStrategyName } from '../core/protocol/strategyNames.js';
import { DatasetConfig, TrainConfig, type BackendChoice, type RankReport, type SearchSummary } from '../core/protocol/protocol.js';
import { createTestRun } from '../core/search/createTestRun.js';
import { localStandaloneTrainer, pickSubnetsByParams, rankRun, type StandaloneTrainer } from '../core/search/rankRun.js';
import { SearchManager } from '../core/search/SearchManager.js';
import { listExampleSpaces } from '../core/space/exampleSpaces.js';
import { SearchSpace } from '../core/space/SearchSpace.js';
import { decodeCheckpoint, encodeCheckpoint, type NamedArray } from '../core/train/checkpointFormat.js';
import { loadVariables, readVariables } from '../core/train/Trainer.js';
import { FASHION_MNIST_DIR } from '../core/data/fashionMnist.js';

const { values: f } = parseArgs({
  options: {
    /** Example space ids, comma-separated: each gets its rows in the one table. */
    space: { type: 'string', default: 'fashion-mlp-supernet,fashion-conv-supernet' },
    steps: { type: 'string', default: '400' },
    subnets: { type: 'string', default: '8' },
    'rank-steps': { type: 'string', default: '300' },
    seeds: { type: 'string', default: '2' },
    limit: { type: 'string', default: '8000' },
    'data-dir': { type: 'string', default: FASHION_MNIST_DIR },
    'val-fraction': { type: 'string', default: '0.25' },
    batch: { type: 'string', default: '128' },
    population: { type: 'string', default: '12' },
    generations: { type: 'string', default: '3' },
    strategies: { type: 'string' },
    backend: { type: 'string', default: 'wasm' },
    'runs-dir': { type: 'string' },
    /** Keep standalone trainings as files here, so several processes (or a later run) share them. */
    'standalone-cache': { type: 'string' },
    /** "i/n": only train the i-th of n shares of the standalone trainings into the cache, then stop. */
    'standalone-shard': { type: 'string' },
    out: { type: 'string' },
  },
});
const int = (name: keyof typeof f) => {
  const v = Number(f[name]);
  if (!Number.isInteger(v) || v < 0) throw new Error(`--${name}: expected a whole number, got "${f[name]}"`);
  return v;
};

const spaces = f.space!.split(',').map((id) => {
  const example = listExampleSpaces().find((e) => e.id === id.trim());
  if (!example) throw new Error(`--space: no example space "${id}" (${listExampleSpaces().map((e) => e.id).join(', ')})`);
  return { id: example.id, space: SearchSpace.parse(example.space) };
});
const names = (f.strategies?.split(',').map((s) => s.trim()) ?? TRAINING_STRATEGY_NAMES.filter((n) => n !== 'plain')) as TrainingStrategyName[];
for (const n of names) if (!TRAINING_STRATEGY_NAMES.includes(n)) throw new Error(`--strategies: unknown strategy "${n}" (${TRAINING_STRATEGY_NAMES.join(', ')})`);
// A large validation share: with a few hundred images the standalone scores' own noise hides the ranking.
const data = DatasetConfig.parse({ kind: 'fashion-mnist', dir: f['data-dir'], limit: int('limit'), valFraction: Number(f['val-fraction']) });

/**
 * Standalone trainings by (subnet, seed, steps, data, optimiser): trained once, their weights reused for
 * every strategy (in memory, and as checkpoint files under `dir` when given).
 */
function cachingTrainer(inner: StandaloneTrainer, dir?: string): StandaloneTrainer & { hits: number } {
  const cache = new Map<string, NamedArray[]>();
  const file = (key: string) => join(dir!, `${createHash('sha1').update(key).digest('hex')}.ckpt`);
  const t = {
    parallel: 1,
    hits: 0,
    async train(config: TrainConfig, signal?: AbortSignal) {
      const key = JSON.stringify([config.arch, config.seed, config.steps, config.batchSize, config.learningRate, config.optimizer, config.data]);
      let hit = cache.get(key);
      if (!hit && dir && existsSync(file(key))) hit = decodeCheckpoint(await readFile(file(key)), file(key)).variables;
      if (hit) {
        t.hits++;
        const net = buildSupernet(config.space, { seed: config.seed });
        loadVariables(net, hit);
        return { net, trainSec: 0 };
      }
      const out = await inner.train(config, signal);
      const vars = readVariables(out.net);
      cache.set(key, vars);
      if (dir) {
        await mkdir(dir, { recursive: true });
        const meta = { step: config.steps, elapsedSec: 0, samplerRngState: 0, data: { epoch: 0, cursor: 0, epochRngState: 0 }, optimizer: null, bestValAccuracy: null };
        await writeFile(`${file(key)}.tmp`, encodeCheckpoint({ meta, variables: vars, optimizerSlots: [] }));
        await rename(`${file(key)}.tmp`, file(key));
      }
      return out;
    },
  };
  return t;
}

/**
 * Train share i of n of the ranking's standalone trainings into the cache (the same subnets, seeds and
 * configs rankRun uses), so a machine with many cores trains them side by side before the strategies run.
 */
async function trainShard(shard: string, standalone: (space: SearchSpace) => Promise<StandaloneTrainer>) {
  const [i, n] = shard.split('/').map(Number) as [number, number];
  if (!(Number.isInteger(i) && Number.isInteger(n) && i >= 0 && i < n)) throw new Error(`--standalone-shard: expected i/n with 0 ≤ i < n, got "${shard}"`);
  // Every space's jobs in one list, dealt out to the shards in turn.
  const jobs = spaces.flatMap(({ space }) => {
    const record = TrainConfig.parse({ space, data, strategy: 'spos', steps: int('steps'), batchSize: int('batch'), seed: 1, evalEvery: int('steps'), checkpointEvery: int('steps') });
    const net = buildSupernet(space, { seed: 1 });
    const archs = pickSubnetsByParams(space, (a) => net.countParams(a), int('subnets'), 1);
    net.dispose();
    return archs.flatMap((arch) => Array.from({ length: int('seeds') }, (_, r) => ({ space, record, arch, seed: 1 + r + 1 })));
  });
  for (const [k, job] of jobs.entries()) {
    if (k % n !== i) continue;
    // As rankRun builds it (core/search/rankRun.ts), so the cache key matches.
    const config = TrainConfig.parse({ ...job.record, name: 'rank', strategy: 'plain', arch: job.arch, steps: int('rank-steps'), seed: job.seed, evalEvery: int('rank-steps'), checkpointEvery: int('rank-steps') });
    (await (await standalone(job.space)).train(config)).net.dispose();
    console.error(`shard ${shard}: trained ${k + 1}/${jobs.length}`);
  }
}

async function main() {
  const backend = await selectBackend(f.backend as BackendChoice);
  const runsDir = f['runs-dir'] ?? join(await mkdtemp(join(tmpdir(), 'switchyard-strategies-')), 'runs');
  // Per space: its dataset (the MLP reads vectors, the conv space images) and its standalone trainer.
  const perSpace = new Map<SearchSpace, Promise<{ ds: Dataset; standalone: StandaloneTrainer }>>();
  const setup = (space: SearchSpace) => {
    if (!perSpace.has(space)) {
      perSpace.set(space, loadDataset(data, { input: space.input }).then((ds) => ({ ds, standalone: cachingTrainer(localStandaloneTrainer(space, ds), f['standalone-cache']) })));
    }
    return perSpace.get(space)!;
  };
  if (f['standalone-shard']) return trainShard(f['standalone-shard'], async (space) => (await setup(space)).standalone);
  const hub = new EventHub();
  const searches = new SearchManager({ runsDir, hub, backend: backend.name });
  const rows: { space: string; strategy: string; trainSec: number; rank: RankReport; search: SearchSummary }[] = [];
  const failed: { space: string; strategy: string; error: string }[] = [];
  let sizes = '';
  for (const { id, space } of spaces) {
    const { ds, standalone } = await setup(space);
    sizes = `${ds.train.n} train / ${ds.val.n} val`;
    console.error(`${space.name}: ${names.length} strategies × ${f.steps} steps, batch ${f.batch}, ${ds.train.n} training / ${ds.val.n} validation images, ${backend.name} (${backend.device}); runs in ${runsDir}`);
    for (const strategy of names) {
      try {
        rows.push({ space: id, ...(await measure(space, ds, standalone, strategy)) });
      } catch (e) {
        // One broken strategy must not cost the others' figures.
        failed.push({ space: id, strategy, error: e instanceof Error ? e.message : String(e) });
        console.error(`${id} ${strategy}: failed: ${failed.at(-1)!.error}`);
      }
    }
  }
  async function measure(space: SearchSpace, ds: Dataset, standalone: StandaloneTrainer, strategy: TrainingStrategyName) {
    const t0 = performance.now();
    const runId = await createTestRun(
      runsDir,
      { space, data, strategy, steps: int('steps'), batchSize: int('batch'), seed: 1, backend: backend.name as BackendChoice, evalEvery: int('steps'), checkpointEvery: int('steps') },
      { train: true },
    );
    const trainSec = (performance.now() - t0) / 1000;
    const rank = await rankRun({ runId, subnets: int('subnets'), steps: int('rank-steps'), seeds: int('seeds'), seed: 1 }, { runsDir, standalone });
    const { searchId } = await searches.start({ runId, objectives: ['accuracy', 'params'], population: int('population'), generations: int('generations'), evalSamples: Math.max(32, ds.val.n), seed: 1 });
    const search = await searches.wait(searchId);
    console.error(`${space.name} ${strategy}: τ ${fmt(rank.kendallTau)}, ρ ${fmt(rank.spearmanRho)}, noise floor ${fmt(rank.seedTau)}, HV ${fmt(search.hypervolume.at(-1)?.value ?? null)} (train ${trainSec.toFixed(0)} s, ${rank.status}, ${search.status})`);
    if (rank.status !== 'completed' || search.status !== 'completed') throw new Error(`rank ${rank.status}${rank.error ? ` (${rank.error})` : ''}, search ${search.status}${search.error ? ` (${search.error})` : ''}`);
    return { strategy, trainSec, rank, search };
  }
  const header = ['space', 'strategy', 'Kendall τ', 'Spearman ρ', 'noise floor τ', 'front HV (acc vs params)', 'front size', 'train s'];
  const body = rows.map((r) => [r.space, r.strategy, fmt(r.rank.kendallTau), fmt(r.rank.spearmanRho), fmt(r.rank.seedTau), fmt(r.search.hypervolume.at(-1)?.value ?? null, 4), String(r.search.front.length), r.trainSec.toFixed(0)]);
  console.log(`\n${spaces.map((x) => x.id).join(' and ')}, ${f.steps} steps × batch ${f.batch}, Fashion-MNIST ${sizes}, ${backend.name}; rank: ${f.subnets} subnets × ${f.seeds} seeds × ${f['rank-steps']} standalone steps; search: NSGA-II ${f.population} × ${f.generations}\n`);
  console.log(`| ${header.join(' | ')} |\n|${header.map(() => '---').join('|')}|\n${body.map((r) => `| ${r.join(' | ')} |`).join('\n')}`);
  for (const x of failed) console.log(`${x.space} ${x.strategy}: failed: ${x.error}`);
  if (failed.length) process.exitCode = 1;
  if (f.out) await writeFile(f.out, JSON.stringify({ args: f, backend, failed, rows: rows.map((r) => ({ space: r.space, strategy: r.strategy, trainSec: r.trainSec, rank: r.rank, hypervolume: r.search.hypervolume, front: r.search.front })) }, null, 1));
}

function fmt(v: number | null, digits = 3): string {
  return v === null ? '—' : v.toFixed(digits);
}

await main();
