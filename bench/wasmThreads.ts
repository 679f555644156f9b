/**
 * The wasm backend with one thread vs the threaded SIMD build (core/nn/nodeWasmThreads.ts), side by side in
 * one run: a 512×512 fp32 matmul and the supernet training step of assets/spaces/fashion-mlp-supernet.json
 * (largest subnet, tf.train.sgd, as bench/runBench.ts benchSupernet times it with lever 'base').
 *
 *   node --import tsx bench/wasmThreads.ts [--reps 3] [--batch 128] [--space fashion-mlp-supernet] [--threads 2]
 *
 * Each configuration runs in its own process (a process starts the wasm backend once), alternating, `reps`
 * times; the table gives each rep's ratio and their range (the machine is shared). tfjs grants the
 * threaded build half the logical cores, so for `--threads N` the child reports 2·N logical cores to it
 * (os.cpus) while the backend starts: on a 2-core machine that is the only way to get 2 pool threads.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';

const here = path.dirname(fileURLToPath(import.meta.url));

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : fallback;
}

interface ChildResult {
  device: string;
  notes: string[];
  matmulMs: number;
  stepMs: number;
}

/** Median over blocks of ms per call; wasm runs each kernel when called, so every result is read at once. */
function time(step: () => tf.Tensor, steps: number, blocks = 5, warmup = 3): number {
  const once = () => {
    const t = step();
    t.dataSync();
    t.dispose();
  };
  for (let i = 0; i < warmup; i++) once();
  const ms = Array.from({ length: blocks }, () => {
    const t0 = performance.now();
    for (let i = 0; i < steps; i++) once();
    return (performance.now() - t0) / steps;
  }).sort((a, b) => a - b);
  return ms[Math.floor(blocks / 2)]!;
}

async function child(threads: number, spaceName: string, batch: number): Promise<ChildResult> {
  process.env.SWITCHYARD_WASM_THREADS = String(threads);
  const cpus = os.cpus;
  if (threads > 1) os.cpus = () => Array.from({ length: 2 * threads }, (_, i) => cpus()[i % cpus().length]!);
  const { selectBackend } = await import('../core/nn/backend.js');
  const info = await selectBackend('wasm');
  os.cpus = cpus;

  const a = tf.randomNormal([512, 512], 0, 1, 'float32', 1);
  const b = tf.randomNormal([512, 512], 0, 1, 'float32', 2);
  const matmulMs = time(() => tf.matMul(a, b), 20);

  const { SearchSpace, inputSampleShape } = await import('../core/space/SearchSpace.js');
  const { largestArch } = await import('../core/space/archCodec.js');
  const { buildSupernet } = await import('../core/nn/Supernet.js');
  const { crossEntropy } = await import('../core/train/evaluate.js');
  const space = SearchSpace.parse(JSON.parse(fs.readFileSync(path.join(here, '..', 'assets', 'spaces', `${spaceName}.json`), 'utf8')));
  const net = buildSupernet(space, { seed: 1 });
  const arch = largestArch(space);
  const x = tf.randomNormal([batch, ...inputSampleShape(space.input)], 0, 1, 'float32', 3);
  const labels = tf.randomUniform([batch], 0, space.numClasses, 'int32', 4) as tf.Tensor1D;
  const opt = tf.train.sgd(1e-3);
  const vars = net.trainableVariables();
  const lossFn = () => {
    const r = net.apply(x, arch, { training: true, progress: 0.5 });
    return tf.add(crossEntropy(r.logits, labels), r.auxLoss) as tf.Scalar;
  };
  const stepMs = time(() => opt.minimize(lossFn, true, vars)!, 5);
  return { device: info.device, notes: info.notes, matmulMs, stepMs };
}

function parent(): void {
  const reps = Number(arg('reps', '3'));
  const threads = Number(arg('threads', '2'));
  const batch = Number(arg('batch', '128'));
  const space = arg('space', 'fashion-mlp-supernet');
  const runs: { one: ChildResult; many: ChildResult }[] = [];
  const run = (t: number): ChildResult => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--child', String(t), '--space', space, '--batch', String(batch)], {
      encoding: 'utf8',
      timeout: 300_000,
    });
    const line = r.stdout.split('\n').find((l) => l.startsWith('{'));
    if (!line) throw new Error(`child (${t} threads) failed: ${r.stderr.slice(-2000)}`);
    return JSON.parse(line) as ChildResult;
  };
  for (let i = 0; i < reps; i++) {
    const one = run(1);
    const many = run(threads);
    runs.push({ one, many });
    console.error(`rep ${i + 1}: ${one.device} ${one.matmulMs.toFixed(2)} / ${one.stepMs.toFixed(2)} ms; ${many.device} ${many.matmulMs.toFixed(2)} / ${many.stepMs.toFixed(2)} ms`);
  }
  const load = os.loadavg()[0]!.toFixed(2);
  console.log(`\n${os.cpus().length} logical cores (${os.cpus()[0]?.model ?? '?'}), load ${load}; ${runs[0]!.one.device} vs ${runs[0]!.many.device}`);
  for (const n of new Set([...runs[0]!.one.notes, ...runs[0]!.many.notes].filter((s) => s.startsWith('wasm')))) console.log(`note: ${n}`);
  console.log('| workload | rep | 1 thread ms | threaded ms | speed-up |');
  console.log('|---|---|---|---|---|');
  for (const [label, key] of [['matmul 512 fp32', 'matmulMs'], [`supernet ${space}, largest, batch ${batch}, sgd`, 'stepMs']] as const) {
    const ratios = runs.map((r) => r.one[key] / r.many[key]);
    runs.forEach((r, i) => console.log(`| ${label} | ${i + 1} | ${r.one[key].toFixed(2)} | ${r.many[key].toFixed(2)} | ${ratios[i]!.toFixed(2)}× |`));
    console.log(`| ${label} | range | | | ${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)}× |`);
  }
}

const c = process.argv.indexOf('--child');
if (c >= 0) {
  const r = await child(Number(process.argv[c + 1]), arg('space', 'fashion-mlp-supernet'), Number(arg('batch', '128')));
  console.log(JSON.stringify(r));
} else {
  parent();
}
