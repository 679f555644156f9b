/**
 * `npm run bench`: times training steps on the active tfjs backend.
 *   (a) MoE FFN step (forward + backward + SGD): plain tfjs ops (moeFfnReference) and, on webgpu, the
 *       fused kernels (moeFfnFused); large (T=8192, d=512, h=2048, E=8, top-2, capacity 1.25) and small;
 *   (b) a supernet training step of each bundled example space (assets/spaces), largest subnet;
 *   (c) square fp32 matmul (tf.matMul, and the grouped-matmul kernel on webgpu).
 * Prints ms, tokens/s, TFLOP/s and ratios; with --torch FILE (bench/moe_step_torch.py's JSON, same GPU)
 * the ratio to PyTorch eager too.
 *
 *   node --import tsx bench/runBench.ts [--backend webgpu|wasm|cpu|auto] [--sizes large,small]
 *        [--only moe,supernet,matmul] [--steps N] [--json FILE] [--torch FILE] [--profile]
 *        [--dawn enable-dawn-features=…]  (Dawn toggles, webgpu only) [--tfflag NAME=value]
 *        [--variant tfjs,fused] [--sweep] [--tune bk=16,unroll=1,stageAT=1,stages=2]
 *        [--moe-dispatch auto,unfused] [--spaces moe-relu-topk,…] [--supernet-batch 256,2048]
 *        [--levers base,dense,dense+ce,all-bn,all] [--optimizer sgd,path-adam] [--torch-supernet FILE]  (bench/supernet_step_torch.py JSON)
 *
 * Timing: a few warm-up steps, then blocks of N steps each ended by one read-back of the loss; the
 * median block gives ms per step. Timings vary ~25% between processes: compare within one run.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../core/nn/backend.js';
import { moeFfnFused, groupedMatmul } from '../core/nn/webgpu/moeFfnFused.js';
import { expertCapacity, moeFfnReference, type MoeFfnOptions, type MoeFfnResult } from '../core/nn/webgpu/moeFfnReference.js';
import { matmulTuning, registerMoeKernels } from '../core/nn/webgpu/moeKernels.js';
import { installBroadcastReductionGradients } from '../core/nn/webgpu/reductionGradients.js';
import type { BackendChoice } from '../core/protocol/protocol.js';
import { logGpuErrors } from './logGpuErrors.js';

interface MoeConfig {
  tokens: number;
  d: number;
  h: number;
  experts: number;
  k: number;
  capacityFactor: number;
}

const MOE_CONFIGS: Record<string, MoeConfig> = {
  large: { tokens: 8192, d: 512, h: 2048, experts: 8, k: 2, capacityFactor: 1.25 },
  small: { tokens: 1024, d: 128, h: 512, experts: 4, k: 2, capacityFactor: 1.25 },
  tiny: { tokens: 128, d: 32, h: 64, experts: 4, k: 2, capacityFactor: 1.25 },
};

interface Args {
  backend: BackendChoice;
  sizes: string[];
  only: Set<string>;
  steps: number;
  json?: string;
  torch?: string;
  profile: boolean;
  dawn: string[];
  /** tfjs environment flags, NAME=value (e.g. WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE=64). */
  tfFlags: [string, number | boolean][];
  /** MoE variants to run: 'tfjs', 'fused' (default both). */
  variants: Set<string>;
  /** Time every matmul code-generation variant (matmulTuning) on the square product. */
  sweep: boolean;
  /**
   * Supernet MoE layers: 'auto' (the product's choice: fused kernels on WebGPU for eligible blocks) and/or
   * 'unfused' (the path before them: dense gating on WebGPU, sparse elsewhere). Default 'auto'.
   */
  moeDispatch: string[];
  /** Only these example spaces (file names without .json); default all. */
  spaces?: string[];
  /** Supernet batches (default 256 on a GPU, small on cpu/wasm); several: --supernet-batch 256,2048. */
  supernetBatch?: number[];
  /**
   * Supernet step variants, each a set of this issue's levers on WebGPU: 'base' (none: the step as it was),
   * 'dense' (dense blocks and expert FFNs through core/nn/webgpu/denseFused.ts), 'dense+ce' (and the loss
   * through crossEntropyFused.ts), 'all-bn' (and the conv filter gradient, convFilterGrad.ts, and the
   * PathOptimizer update, pathUpdateKernels.ts), 'all' (and training BatchNorm, batchNormFused.ts: the
   * product's default). Default 'all'.
   */
  levers: string[];
  /**
   * Supernet step optimizers: 'sgd' (tf.train.sgd, as the issue's table was measured), 'path-sgd' /
   * 'path-adam' (the trainer's PathOptimizer, core/train/PathOptimizer.ts, with SGD or Adam).
   */
  optimizers: string[];
  /** bench/supernet_step_torch.py's JSON (same GPU): ratio of each supernet step to PyTorch eager. */
  torchSupernet?: string;
}

function parseArgs(argv: string[]): Args {
  const get = (name: string) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const backend = (get('backend') ?? 'auto') as BackendChoice;
  return {
    backend,
    // Empty: chosen once the backend is known (GPU: large,small and 10 steps; CPU/wasm: tiny and 2).
    sizes: get('sizes')?.split(',') ?? [],
    only: new Set((get('only') ?? 'moe,supernet,matmul').split(',')),
    steps: Number(get('steps') ?? 0),
    json: get('json'),
    torch: get('torch'),
    profile: argv.includes('--profile'),
    dawn: argv.flatMap((a, i) => (a === '--dawn' && argv[i + 1] ? [argv[i + 1]!] : [])),
    tfFlags: argv.flatMap((a, i) => {
      if (a !== '--tfflag' || !argv[i + 1]) return [];
      const [name, value] = argv[i + 1]!.split('=') as [string, string];
      return [[name, value === 'true' ? true : value === 'false' ? false : Number(value)] as [string, number | boolean]];
    }),
    variants: new Set((get('variant') ?? 'tfjs,fused').split(',')),
    sweep: argv.includes('--sweep'),
    moeDispatch: (get('moe-dispatch') ?? 'auto').split(','),
    spaces: get('spaces')?.split(','),
    supernetBatch: get('supernet-batch')?.split(',').map(Number),
    levers: (get('levers') ?? 'all').split(','),
    optimizers: (get('optimizer') ?? 'sgd').split(','),
    torchSupernet: get('torch-supernet'),
  };
}

/**
 * ms per call of `step` (which returns a tensor to read back): median over blocks of `steps` calls.
 * `hostMs` is the part spent in JS recording the work (before the read-back waits for the GPU): when it
 * is close to `ms`, the step is bound by per-op host overhead, not by the GPU.
 */
async function timeSteps(step: () => tf.Tensor, steps: number, blocks = 3, warmup = 2): Promise<{ ms: number; hostMs: number }> {
  for (let i = 0; i < warmup; i++) await step().data();
  const perStep: { ms: number; hostMs: number }[] = [];
  for (let b = 0; b < blocks; b++) {
    const t0 = performance.now();
    let last: tf.Tensor | null = null;
    for (let i = 0; i < steps; i++) {
      last?.dispose();
      last = step();
    }
    const t1 = performance.now();
    await last!.data();
    last!.dispose();
    perStep.push({ ms: (performance.now() - t0) / steps, hostMs: (t1 - t0) / steps });
  }
  perStep.sort((a, b) => a.ms - b.ms);
  return perStep[Math.floor(perStep.length / 2)]!;
}

/** timeSteps for the compiled step: `run` records a step, `read` waits for the last one's numbers. */
async function timeCompiled(run: () => void, read: () => Promise<unknown>, steps: number, blocks = 3, warmup = 2): Promise<{ ms: number; hostMs: number }> {
  for (let i = 0; i < warmup; i++) {
    run();
    await read();
  }
  const perStep: { ms: number; hostMs: number }[] = [];
  for (let b = 0; b < blocks; b++) {
    const t0 = performance.now();
    for (let i = 0; i < steps; i++) run();
    const t1 = performance.now();
    await read();
    perStep.push({ ms: (performance.now() - t0) / steps, hostMs: (t1 - t0) / steps });
  }
  perStep.sort((a, b) => a.ms - b.ms);
  return perStep[Math.floor(perStep.length / 2)]!;
}

type MoeFn = (
  x: tf.Tensor2D,
  routerW: tf.Tensor2D,
  w1: tf.Tensor3D,
  b1: tf.Tensor2D,
  w2: tf.Tensor3D,
  b2: tf.Tensor2D,
  opts: MoeFfnOptions,
) => MoeFfnResult;

interface MoeState {
  x: tf.Variable;
  halfOverT: tf.Scalar;
  one: tf.Scalar;
  target: tf.Tensor2D;
  weights: tf.Variable[];
  opts: MoeFfnOptions;
  dispose(): void;
}

function makeMoeState(cfg: MoeConfig, seed: number): MoeState {
  const { tokens: T, d, h, experts: E, k } = cfg;
  const rnd = (shape: number[], scale: number, s: number) => tf.randomNormal(shape, 0, scale, 'float32', seed + s);
  const x = tf.variable(rnd([T, d], 1, 1), false, `bench.x.${seed}`);
  const target = rnd([T, d], 1, 2) as tf.Tensor2D;
  const weights = [
    tf.variable(rnd([d, E], 1 / Math.sqrt(d), 3), true, `bench.routerW.${seed}`),
    tf.variable(rnd([E, d, h], 1 / Math.sqrt(d), 4), true, `bench.w1.${seed}`),
    tf.variable(tf.zeros([E, h]), true, `bench.b1.${seed}`),
    tf.variable(rnd([E, h, d], 1 / Math.sqrt(h), 5), true, `bench.w2.${seed}`),
    tf.variable(tf.zeros([E, d]), true, `bench.b2.${seed}`),
  ];
  const opts = { k, capacity: expertCapacity(T, k, E, cfg.capacityFactor) };
  const halfOverT = tf.scalar(0.5 / T);
  const one = tf.scalar(1);
  return {
    x,
    halfOverT,
    one,
    target,
    weights,
    opts,
    dispose: () => {
      x.dispose();
      halfOverT.dispose();
      one.dispose();
      target.dispose();
      for (const w of weights) w.dispose();
    },
  };
}

/**
 * One training step: loss = 0.5·Σ(y − target)²/T, gradients for x and every weight, SGD on the weights.
 * Every constant (lr, ½/T, the seed gradient) lives on the device: a JS number operand costs a staging
 * buffer allocation per use on tfjs-webgpu.
 */
function moeTrainStep(fn: MoeFn, s: MoeState, lr: tf.Scalar): tf.Tensor {
  const f = (x: tf.Tensor, routerW: tf.Tensor, w1: tf.Tensor, b1: tf.Tensor, w2: tf.Tensor, b2: tf.Tensor) => {
    const r = fn(x as tf.Tensor2D, routerW as tf.Tensor2D, w1 as tf.Tensor3D, b1 as tf.Tensor2D, w2 as tf.Tensor3D, b2 as tf.Tensor2D, s.opts);
    const diff = tf.sub(r.y, s.target);
    // Rows first, then the row sums: tfjs reduces a whole tensor to a scalar in one workgroup.
    return tf.mul(tf.sum(tf.sum(tf.mul(diff, diff), 1)), s.halfOverT) as tf.Scalar;
  };
  return tf.tidy(() => {
    const { value, grads } = tf.valueAndGrads(f)([s.x, ...s.weights], s.one);
    s.weights.forEach((w, i) => w.assign(tf.sub(w, tf.mul(lr, grads[i + 1]!))));
    return value;
  });
}

/** Rows are printed as they land, so a run cut short still reports what it measured. */
function addRow(rows: Row[], row: Row): void {
  rows.push(row);
  console.log(`  ${row.bench} · ${row.variant}: ${fmt(row.ms, 2)} ms (host ${fmt(row.hostMs, 2)})${row.tflops != null ? `, ${fmt(row.tflops, 3)} TFLOP/s` : ''}${row.note ? ` (${row.note})` : ''}`);
}

const moeFlops = (c: MoeConfig) => 6 * 2 * c.tokens * c.k * c.d * c.h;

interface Row {
  bench: string;
  variant: string;
  ms: number;
  /** JS time to record one step (see timeSteps). */
  hostMs?: number;
  tokensPerS?: number;
  tflops?: number;
  vsTfjs?: number;
  vsTorchFp32?: number;
  vsTorchBf16?: number;
  note?: string;
}

interface TorchResult {
  device: string;
  moe: Record<string, { fp32: { ms: number }; bf16: { ms: number } }>;
  matmul_fp32: { n: number; ms: number; tflops: number };
}

async function benchMoe(args: Args, rows: Row[], torch?: TorchResult): Promise<void> {
  // The plain path's gather gradient is UnsortedSegmentSum, which the wasm backend lacks: time it on cpu.
  const active = tf.getBackend();
  if (active === 'wasm') {
    console.log('moe: wasm has no UnsortedSegmentSum kernel; timing the MoE step on the cpu backend');
    await tf.setBackend('cpu');
  }
  try {
    await benchMoeOnActive(args, rows, torch);
  } finally {
    if (tf.getBackend() !== active) await tf.setBackend(active);
  }
}

async function benchMoeOnActive(args: Args, rows: Row[], torch?: TorchResult): Promise<void> {
  const webgpu = tf.getBackend() === 'webgpu';
  // One device-resident learning rate: a JS number would be uploaded through a new staging buffer per op.
  const lr = tf.keep(tf.scalar(1e-3));
  for (const size of args.sizes) {
    const cfg = MOE_CONFIGS[size];
    if (!cfg) throw new Error(`unknown --sizes entry "${size}" (have ${Object.keys(MOE_CONFIGS).join(', ')})`);
    const variants: [string, MoeFn][] = [];
    if (args.variants.has('tfjs')) variants.push(['tfjs ops', moeFfnReference]);
    if (webgpu && args.variants.has('fused')) variants.push(['fused webgpu', moeFfnFused]);
    let tfjsMs = NaN;
    for (const [variant, fn] of variants) {
      const s = makeMoeState(cfg, 7);
      try {
        const { ms, hostMs } = await timeSteps(() => moeTrainStep(fn, s, lr), args.steps);
        if (variant === 'tfjs ops') tfjsMs = ms;
        const t = torch?.moe[size];
        addRow(rows, {
          bench: `moe-${size}`,
          variant: webgpu ? variant : `${variant} (${tf.getBackend()})`,
          ms,
          hostMs,
          tokensPerS: (cfg.tokens / ms) * 1e3,
          tflops: moeFlops(cfg) / ms / 1e9,
          vsTfjs: tfjsMs / ms,
          vsTorchFp32: t ? t.fp32.ms / ms : undefined,
          vsTorchBf16: t ? t.bf16.ms / ms : undefined,
        });
        if (args.profile && variant === 'fused webgpu') await profileStep(() => moeTrainStep(fn, s, lr), `moe-${size} ${variant}`);
      } catch (e) {
        console.error(e);
        addRow(rows, { bench: `moe-${size}`, variant, ms: NaN, note: `failed: ${(e as Error).message.split('\n')[0]}` });
      } finally {
        s.dispose();
      }
    }
    if (torch?.moe[size]) {
      for (const prec of ['fp32', 'bf16'] as const) {
        const ms = torch.moe[size]![prec].ms;
        addRow(rows, { bench: `moe-${size}`, variant: `pytorch eager ${prec}`, ms, tokensPerS: (cfg.tokens / ms) * 1e3, tflops: moeFlops(cfg) / ms / 1e9 });
      }
    }
  }
}

/** Per-kernel GPU time of one step (timestamp queries; each kernel in its own pass, so the sum exceeds a step). */
async function profileStep(step: () => tf.Tensor, label: string): Promise<void> {
  const info = await tf.profile(() => step());
  const byKernel = new Map<string, { ms: number; n: number }>();
  for (const k of info.kernels) {
    const ms = typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : ((k.kernelTimeMs as { error?: string }).error ? NaN : 0);
    const e = byKernel.get(k.name) ?? { ms: 0, n: 0 };
    e.ms += ms;
    e.n += 1;
    byKernel.set(k.name, e);
  }
  const sorted = [...byKernel.entries()].sort((a, b) => b[1].ms - a[1].ms);
  const total = sorted.reduce((s, [, v]) => s + v.ms, 0);
  console.log(`\nprofile ${label}: ${info.kernels.length} kernels, ${total.toFixed(2)} ms summed GPU time`);
  for (const [name, v] of sorted.slice(0, 25)) console.log(`  ${name.padEnd(28)} ${v.ms.toFixed(3).padStart(9)} ms  ×${v.n}`);
}

interface TorchSupernet {
  device: string;
  supernet: Record<string, { ms?: number; skipped?: string }>;
}

/** Kernels one call of `step` dispatches and their summed GPU time (timestamp queries). */
async function countKernels(step: () => tf.Tensor): Promise<{ kernels: number; gpuMs: number; top: string }> {
  const info = await tf.profile(() => step());
  const by = new Map<string, { n: number; ms: number }>();
  let gpuMs = 0;
  for (const k of info.kernels) {
    const ms = typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
    gpuMs += ms;
    const e = by.get(k.name) ?? { n: 0, ms: 0 };
    e.n++;
    e.ms += ms;
    by.set(k.name, e);
  }
  // Most frequent ops (host cost) and the GPU-heaviest (device cost).
  const byCount = [...by.entries()].sort((a, b) => b[1].n - a[1].n).slice(0, 8).map(([n, e]) => `${n}×${e.n}`).join(' ');
  const byMs = [...by.entries()].sort((a, b) => b[1].ms - a[1].ms).slice(0, 4).map(([n, e]) => `${n} ${e.ms.toFixed(2)}`).join(', ');
  return { kernels: info.kernels.length, gpuMs, top: `${byCount}; GPU ms: ${byMs}` };
}

async function benchSupernet(args: Args, rows: Row[]): Promise<void> {
  const torchSn: TorchSupernet | undefined = args.torchSupernet && fs.existsSync(args.torchSupernet) ? JSON.parse(fs.readFileSync(args.torchSupernet, 'utf8')) : undefined;
  const { denseFusion } = await import('../core/nn/webgpu/denseFused.js');
  const { crossEntropyFusion } = await import('../core/nn/webgpu/crossEntropyFused.js');
  const { crossEntropy } = await import('../core/train/evaluate.js');
  const { tokenCrossEntropy } = await import('../core/train/languageModel.js');
  const { convFilterGradFast } = await import('../core/nn/webgpu/convFilterGrad.js');
  const { pathUpdateFusion } = await import('../core/nn/webgpu/pathUpdateKernels.js');
  const { PathOptimizer } = await import('../core/train/PathOptimizer.js');
  // 'all' also fuses PathOptimizer's update (path-adam rows only: tf.train.sgd is tfjs').
  const { bnFusion } = await import('../core/nn/webgpu/batchNormFused.js');
  const { CompiledStep } = await import('../core/nn/webgpu/step/compiledStep.js');
  // 'compiled': the whole step as one recorded WebGPU program (core/nn/webgpu/step/), the product's default
  // on WebGPU; the tfjs levers stay on for whatever is not compiled.
  const LEVERS: Record<string, { dense: boolean; ce: boolean; conv: boolean; opt: boolean; bn: boolean; compiled?: boolean }> = {
    base: { dense: false, ce: false, conv: false, opt: false, bn: false },
    dense: { dense: true, ce: false, conv: false, opt: false, bn: false },
    'dense+ce': { dense: true, ce: true, conv: false, opt: false, bn: false },
    'all-bn': { dense: true, ce: true, conv: true, opt: true, bn: false },
    all: { dense: true, ce: true, conv: true, opt: true, bn: true },
    compiled: { dense: true, ce: true, conv: true, opt: true, bn: true, compiled: true },
    // SPOS as the trainer runs it: a new random subnet every step through the StepCache (64 subnets), so
    // the cost of compiling unseen subnets and uploading each step's batch is in the time.
    'compiled-spos': { dense: true, ce: true, conv: true, opt: true, bn: true, compiled: true },
  };
  const { StepCache } = await import('../core/nn/webgpu/step/compiledStep.js');
  const { sampleArch } = await import('../core/space/archCodec.js');
  const { createRng } = await import('../core/space/rng.js');
  const here = path.dirname(fileURLToPath(import.meta.url));
  const dir = path.join(here, '..', 'assets', 'spaces');
  if (!fs.existsSync(dir)) {
    addRow(rows, { bench: 'supernet', variant: '-', ms: NaN, note: 'no assets/spaces' });
    return;
  }
  const { SearchSpace, inputSampleShape } = await import('../core/space/SearchSpace.js');
  const { largestArch } = await import('../core/space/archCodec.js');
  const { buildSupernet } = await import('../core/nn/Supernet.js');
  const onCpu = tf.getBackend() === 'cpu' || tf.getBackend() === 'wasm';
  for (const file of fs.readdirSync(dir).filter((f) => f.endsWith('.json')).sort()) {
    const name = file.replace(/\.json$/, '');
    if (args.spaces && !args.spaces.includes(name)) continue;
    const space0 = SearchSpace.parse(JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')));
    // The JS CPU backend takes seconds per conv step at batch 32: keep the CPU run short.
    const batches = args.supernetBatch ?? [onCpu ? (space0.input.kind === 'image' ? 4 : 32) : 256];
    const combos = args.optimizers.flatMap((optimizer) =>
      batches.flatMap((batch) => args.moeDispatch.flatMap((dispatch) => args.levers.map((lever) => ({ batch, dispatch, lever, optimizer })))),
    );
    for (const { batch, dispatch, lever, optimizer } of combos) {
      try {
        const space = space0;
        const on = LEVERS[lever];
        if (!on) throw new Error(`unknown --levers entry "${lever}" (use ${Object.keys(LEVERS).join(', ')})`);
        denseFusion.enabled = on.dense;
        crossEntropyFusion.enabled = on.ce;
        convFilterGradFast.enabled = on.conv;
        pathUpdateFusion.enabled = on.opt;
        bnFusion.enabled = on.bn;
        const net = buildSupernet(space, { seed: 1 });
        const moeLayers = net.moeLayers();
        if (dispatch !== 'auto' && moeLayers.length === 0) {
          net.dispose();
          continue;
        }
        if (dispatch === 'unfused') for (const l of moeLayers) l.dispatch = onCpu ? 'sparse' : 'dense';
        else if (dispatch !== 'auto') throw new Error(`unknown --moe-dispatch "${dispatch}" (use auto, unfused)`);
        const moeNote = (moeLayers.length === 0 ? '' : `, moe ${dispatch === 'auto' ? 'auto' : 'unfused'}`) + `, ${lever}` + (optimizer === 'sgd' ? '' : `, ${optimizer}`);
        const arch = largestArch(space);
        const inShape = [batch, ...inputSampleShape(space.input)];
        // A token space reads ids < vocab [batch, T], as float32 holding integers like the trainer's batches
        // (core/train/Trainer.ts tf.tensor of the batch; the embedding casts); other inputs are N(0, 1).
        const vocab = space.input.kind === 'tokens' ? space.input.vocab : 0;
        const x = vocab > 0 ? tf.tidy(() => tf.cast(tf.randomUniform(inShape, 0, vocab, 'int32', 3), 'float32')) : tf.randomNormal(inShape, 0, 1, 'float32', 3);
        // A per-token head (net.perToken) scores every position: one target per row of its [batch·T, classes]
        // logits, all scored, with the trainer's token loss (core/train/languageModel.ts tokenCrossEntropy, mean
        // over the scored rows); otherwise core/train/evaluate.ts crossEntropy of [batch] int labels.
        const labelRows = net.perToken ? batch * inputSampleShape(space.input)[0]! : batch;
        const labels = tf.randomUniform([labelRows], 0, space.numClasses, 'int32', 4) as tf.Tensor1D;
        const opt = tf.train.sgd(1e-3);
        const vars = net.trainableVariables();
        const lossOf = (a: typeof arch) => () => {
          const r = net.apply(x, a, { training: true, progress: 0.5 });
          const ce = net.perToken ? tokenCrossEntropy(r.logits, labels).mean : crossEntropy(r.logits, labels);
          return tf.add(ce, r.auxLoss) as tf.Scalar;
        };
        const lossFn = lossOf(arch);
        // The trainer's step (core/train/Trainer.ts): variableGrads, then the lazy per-slice update.
        const pathStep = (po: InstanceType<typeof PathOptimizer>, loss: () => tf.Scalar) => {
          const { value, grads } = tf.variableGrads(loss, vars);
          po.apply(new Map(vars.flatMap((v) => (grads[v.name] ? [[v, grads[v.name]!] as [tf.Variable, tf.Tensor]] : []))));
          tf.dispose(Object.values(grads));
          return value;
        };
        if (optimizer !== 'sgd' && optimizer !== 'path-sgd' && optimizer !== 'path-adam') throw new Error(`unknown --optimizer "${optimizer}" (use sgd, path-sgd, path-adam)`);
        const pathOpt = optimizer === 'sgd' ? null : new PathOptimizer(optimizer === 'path-adam' ? 'adam' : 'sgd', 1e-3, new Map(vars.map((v) => [v.name, v])));
        // PyTorch: SGD for 'sgd' / 'path-sgd', Adam (torch.optim.Adam, foreach) for 'path-adam'.
        const t = torchSn?.supernet[`${name}@${batch}${optimizer === 'path-adam' ? ':adam' : ''}`];
        const torchRow = () => {
          if (t?.ms && optimizer !== 'path-sgd' && lever === args.levers[args.levers.length - 1] && dispatch === args.moeDispatch[args.moeDispatch.length - 1]) {
            addRow(rows, { bench: `supernet ${name}`, variant: `pytorch eager fp32, batch ${batch}${optimizer === 'path-adam' ? ', adam' : ''}`, ms: t.ms, tokensPerS: (batch / t.ms) * 1e3 });
          }
        };
        if (on.compiled) {
          // The compiled step updates with PathOptimizer's rule; for 'sgd' that is tf.train.sgd's w −= lr·g
          // (an element with g = 0 is unchanged either way).
          const po = pathOpt ?? new PathOptimizer('sgd', 1e-3, new Map(vars.map((v) => [v.name, v])));
          const inFloats = inShape.slice(1).reduce((a, b) => a * b, 1);
          const built = tf.getBackend() === 'webgpu' ? CompiledStep.build(net, arch, batch, inFloats, po) : 'needs the webgpu backend';
          const xh = (await x.data()) as Float32Array;
          const yh = Int32Array.from(await labels.data());
          const values = po.stepValues(0.5);
          const steps = Math.max(2, Math.floor(args.steps / 2));
          if (typeof built === 'string') {
            addRow(rows, { bench: `supernet ${name}`, variant: `largest, batch ${batch}${moeNote}`, ms: NaN, note: `not compiled: ${built}` });
          } else if (lever === 'compiled-spos') {
            built.dispose();
            const cache = new StepCache();
            const rng = createRng(7);
            // What the last step left to wait for: a compiled step's stats, or a tfjs step's loss.
            let last: (() => Promise<unknown>) | null = null;
            let misses = 0;
            let fallbacks = 0;
            const uploaded = new Set<object>();
            const losses: tf.Tensor[] = [];
            const run = () => {
              const a = sampleArch(space, rng);
              const s = cache.get({ arch: a, batch }, (shared) => (misses++, CompiledStep.build(net, a, batch, inFloats, po, shared)));
              if (typeof s === 'string') {
                // Not compiled (e.g. a fake-quantised choice): the trainer's tfjs step, as the trainer falls back.
                fallbacks++;
                const value = pathStep(po, lossOf(a));
                losses.push(value);
                last = async () => {
                  await value.data();
                  tf.dispose(losses.splice(0));
                };
                return;
              }
              // The batch stays on the GPU (as PyTorch's and the tfjs rows'): uploaded once per program.
              if (!uploaded.has(s)) {
                s.setBatch(xh, yh);
                uploaded.add(s);
              }
              s.run(values);
              po.countUpdates(s.updated);
              last = () => s.stats();
            };
            const { ms, hostMs } = await timeCompiled(run, async () => {
              const l = last;
              last = null;
              return l ? l() : null;
            }, steps);
            tf.dispose(losses);
            addRow(rows, { bench: `supernet ${name}`, variant: `random subnets, batch ${batch}${moeNote}`, ms, hostMs, tokensPerS: (batch / ms) * 1e3, note: `${misses} compiles, ${fallbacks} not compiled` });
            cache.dispose();
          } else {
            // The batch stays on the GPU, as the tfjs rows' tensors and PyTorch's do.
            built.setBatch(xh, yh);
            const run = () => {
              built.run(values);
              po.countUpdates(built.updated);
            };
            const { ms, hostMs } = await timeCompiled(run, () => built.stats(), steps);
            let note = `${built.dispatchCount} dispatches`;
            if (args.profile) {
              // GPU ms per dispatch (timestamps around each, in its own pass): where the step's time goes.
              const prof = await built.program.profile();
              if (prof) {
                const by = new Map<string, number>();
                for (const p of prof) {
                  const kind = p.label.replace(/^[^.]*\.(b\d+\.)?/, '');
                  by.set(kind, (by.get(kind) ?? 0) + p.ms);
                }
                const gpu = prof.reduce((a, p) => a + p.ms, 0);
                note += `, ${gpu.toFixed(3)} ms GPU; ` + [...by].sort((a, b) => b[1] - a[1]).slice(0, 5).map(([k, v]) => `${k} ${v.toFixed(3)}`).join(', ');
              }
            }
            addRow(rows, { bench: `supernet ${name}`, variant: `largest, batch ${batch}${moeNote}`, ms, hostMs, tokensPerS: (batch / ms) * 1e3, tflops: (3 * net.countFlops(arch) * batch) / ms / 1e9, vsTorchFp32: t?.ms ? t.ms / ms : undefined, note });
            torchRow();
            built.dispose();
          }
          if (po !== pathOpt) po.dispose();
          x.dispose();
          labels.dispose();
          opt.dispose();
          pathOpt?.dispose();
          net.dispose();
          continue;
        }
        const step = pathOpt ? () => pathStep(pathOpt, lossFn) : () => opt.minimize(lossFn, true, vars)!;
        const { ms, hostMs } = await timeSteps(step, Math.max(2, Math.floor(args.steps / 2)));
        let note: string | undefined;
        if (args.profile && tf.getBackend() === 'webgpu') {
          const k = await countKernels(step);
          note = `${k.kernels} kernels, ${k.gpuMs.toFixed(2)} ms GPU; ${k.top}`;
        }
        addRow(rows, { bench: `supernet ${name}`, variant: `largest, batch ${batch}${moeNote}`, ms, hostMs, tokensPerS: (batch / ms) * 1e3, tflops: (3 * net.countFlops(arch) * batch) / ms / 1e9, vsTorchFp32: t?.ms ? t.ms / ms : undefined, note });
        torchRow();
        x.dispose();
        labels.dispose();
        opt.dispose();
        pathOpt?.dispose();
        net.dispose();
      } catch (e) {
        addRow(rows, { bench: `supernet ${name}`, variant: `batch ${batch}, moe ${dispatch}, ${lever}, ${optimizer}`, ms: NaN, note: `failed: ${(e as Error).message.split('\n')[0]}` });
      }
    }
  }
  denseFusion.enabled = true;
  crossEntropyFusion.enabled = true;
  convFilterGradFast.enabled = true;
  pathUpdateFusion.enabled = true;
  bnFusion.enabled = true;
}

async function benchMatmul(args: Args, rows: Row[], torch?: TorchResult): Promise<void> {
  const n = tf.getBackend() === 'cpu' || tf.getBackend() === 'wasm' ? 256 : 4096;
  const a = tf.randomNormal([n, n], 0, 1, 'float32', 1);
  const b = tf.randomNormal([n, n], 0, 1, 'float32', 2);
  const flops = 2 * n ** 3;
  const torchMs = torch && torch.matmul_fp32.n === n ? torch.matmul_fp32.ms : undefined;
  const add = (variant: string, { ms, hostMs }: { ms: number; hostMs: number }) =>
    addRow(rows, { bench: `matmul ${n}`, variant, ms, hostMs, tflops: flops / ms / 1e9, vsTorchFp32: torchMs ? torchMs / ms : undefined });
  const { fastMatmul, installFastMatmul } = await import('../core/nn/webgpu/matmulOverride.js');
  const fastWas = fastMatmul.enabled;
  fastMatmul.enabled = false;
  add('tf.matMul', await timeSteps(() => tf.matMul(a, b), args.steps * 2));
  fastMatmul.enabled = fastWas;
  if (tf.getBackend() === 'webgpu') {
    installFastMatmul();
    add('tf.matMul, fast kernel (matmulOverride)', await timeSteps(() => tf.matMul(a, b), args.steps * 2));
    registerMoeKernels();
    const a3 = a.reshape([1, n, n]);
    const b3 = b.reshape([1, n, n]);
    const route = tf.tensor1d([n], 'int32');
    const saved = { ...matmulTuning };
    const configs = args.sweep
      ? [
          { bk: 16, unroll: false, stageAT: false, stages: 1 },
          { bk: 16, unroll: true, stageAT: false, stages: 1 },
          { bk: 16, unroll: true, stageAT: true, stages: 1 },
          { bk: 16, unroll: true, stageAT: true, stages: 2 },
          { bk: 8, unroll: true, stageAT: true, stages: 2 },
          { bk: 32, unroll: true, stageAT: true, stages: 2 },
        ]
      : [saved];
    for (const c of configs) {
      Object.assign(matmulTuning, c);
      const tag = `bk=${c.bk || 'auto'}${c.unroll ? ' unrolled' : ''}${c.stageAT ? ' Aᵀ-staged' : ''}${c.stages === 2 ? ' 2-stage' : ''}`;
      add(`grouped matmul kernel ${tag}`, await timeSteps(() => groupedMatmul('nn', a3, b3, route, { batches: 1, M: n, N: n, K: n, countOff: -1 }), args.steps * 2));
      add(`grouped matmul kernel AᵀB ${tag}`, await timeSteps(() => groupedMatmul('tn', a3, b3, route, { batches: 1, M: n, N: n, K: n, countOff: -1 }), args.steps * 2));
    }
    Object.assign(matmulTuning, saved);
    a3.dispose();
    b3.dispose();
    route.dispose();
  }
  if (torchMs) addRow(rows, { bench: `matmul ${n}`, variant: 'pytorch fp32', ms: torchMs, tflops: flops / torchMs / 1e9 });
  a.dispose();
  b.dispose();
}

function fmt(v: number | undefined, digits: number): string {
  return v == null || Number.isNaN(v) ? '' : v.toFixed(digits);
}

function printTable(rows: Row[]): void {
  const head = ['bench', 'variant', 'ms/step', 'host ms', 'tokens/s', 'TFLOP/s', '×tfjs', '×torch32', '×torch16', 'note'];
  const body = rows.map((r) => [
    r.bench,
    r.variant,
    fmt(r.ms, 2),
    fmt(r.hostMs, 2),
    r.tokensPerS == null ? '' : Math.round(r.tokensPerS).toString(),
    fmt(r.tflops, 3),
    fmt(r.vsTfjs, 2),
    fmt(r.vsTorchFp32, 3),
    fmt(r.vsTorchBf16, 3),
    r.note ?? '',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => '| ' + cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ') + ' |';
  console.log(line(head));
  console.log('|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|');
  for (const b of body) console.log(line(b));
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (args.dawn.length > 0) {
    // Dawn toggles (e.g. enable-dawn-features=disable_robustness): create the GPU object before
    // selectBackend, which then reuses it.
    const webgpu = (await import('webgpu')) as unknown as { create(flags: string[]): unknown; globals: object };
    Object.assign(globalThis, webgpu.globals);
    const g = globalThis as unknown as { navigator?: { gpu?: unknown } };
    g.navigator ??= {};
    g.navigator.gpu = webgpu.create(args.dawn);
  }
  const tune = process.argv.indexOf('--tune');
  if (tune >= 0) {
    // --tune bk=32,unroll=1,stageAT=1
    for (const kv of (process.argv[tune + 1] ?? '').split(',')) {
      const [key, value] = kv.split('=') as [keyof typeof matmulTuning, string];
      if (key === 'bk') matmulTuning.bk = Number(value);
      else if (key === 'stages') matmulTuning.stages = Number(value);
      else if (key === 'unroll' || key === 'stageAT') matmulTuning[key] = value === '1' || value === 'true';
    }
  }
  const info = await selectBackend(args.backend);
  logGpuErrors();
  const onGpu = info.name === 'webgpu' || info.name === 'tensorflow';
  if (args.sizes.length === 0) args.sizes = onGpu ? ['large', 'small'] : ['tiny'];
  if (!args.steps) args.steps = onGpu ? 10 : 2;
  for (const [name, value] of args.tfFlags) tf.env().set(name, value);
  // Both MoE variants (and the supernets) train with device-side Sum/Mean gradients unless --upstream-grads.
  if (!process.argv.includes('--upstream-grads')) installBroadcastReductionGradients();
  let adapter: Record<string, unknown> | undefined;
  if (info.name === 'webgpu') {
    const be = tf.backend() as unknown as { device: { limits: Record<string, number>; features: Set<string> }; adapterInfo?: unknown };
    const gpu = (globalThis as unknown as { navigator: { gpu: { requestAdapter(): Promise<{ info: Record<string, string>; features: Set<string> } | null> } } }).navigator.gpu;
    const ad = await gpu.requestAdapter();
    adapter = {
      info: ad ? { vendor: ad.info.vendor, architecture: ad.info.architecture, device: ad.info.device, description: ad.info.description } : null,
      features: ad ? [...ad.features] : [],
      maxComputeWorkgroupStorageSize: be.device.limits.maxComputeWorkgroupStorageSize,
      maxStorageBufferBindingSize: be.device.limits.maxStorageBufferBindingSize,
    };
  }
  const torch: TorchResult | undefined = args.torch && fs.existsSync(args.torch) ? JSON.parse(fs.readFileSync(args.torch, 'utf8')) : undefined;
  console.log(`backend ${info.name}: ${info.device}${torch ? `; torch on ${torch.device}` : ''}`);
  if (adapter) console.log(`adapter ${JSON.stringify(adapter)}`);
  const rows: Row[] = [];
  if (args.only.has('moe')) await benchMoe(args, rows, torch);
  if (args.only.has('matmul')) await benchMatmul(args, rows, torch);
  if (args.only.has('supernet')) await benchSupernet(args, rows);
  printTable(rows);
  if (args.json) fs.writeFileSync(args.json, JSON.stringify({ date: new Date().toISOString(), backend: info, adapter, torch, rows }, null, 2));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
