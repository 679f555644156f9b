/**
 * GPU check of the compiled WebGPU training step (core/nn/webgpu/step/, issue 18) against an independent
 * float64 re-implementation (bench/check_compiled_torch.py) — run on the device machine:
 *
 *   bash .device/env.sh node --import tsx bench/checkCompiledStep.ts --dump /tmp/cstep [--spaces a,b] [--steps 3] [--batch 64]
 *   python3 bench/check_compiled_torch.py /tmp/cstep
 *
 * Locally (no GPU) `--swiftshader` runs it on Chromium's SwiftShader Vulkan (core/nn/webgpu/step/testWebgpu.ts),
 * and `python3 bench/check_compiled_torch.py DIR --numpy` checks the dense-only spaces without torch.
 *
 * For every example space (assets/spaces/*.json) and two of its subnets — the largest and one random
 * subnet (sampleArch, fixed seed; every slice of a supernet variable is then a proper sub-block) — it builds
 * the supernet (seed 1) and PathOptimizer's Adam, compiles the step (CompiledStep.build; a string is a
 * part without a compiled step: printed and recorded as skipped), uploads one fixed random batch and runs
 * `--steps` compiled steps on it. It writes, for check_compiled_torch.py:
 *
 * - DIR/manifest.json: per case the parsed space (schema defaults filled in), the arch, batch, the input
 *   and label shapes, the optimizer (Adam lr, β₁, β₂, ε as PathOptimizer.stepValues gives them, and its lazy
 *   rule), the compiled step's numbers per step (mean cross-entropy before the aux losses, correct rows,
 *   the layers' reports) and where each array lies in the data file;
 * - DIR/data.bin: raw little-endian arrays — the batch (f32 inputs, i32 labels), every named variable of
 *   the supernet before the steps (net.namedVariables(): trainable and not, e.g. BatchNorm running
 *   statistics), and after each step every variable and every trainable variable's optimizer slots
 *   (Adam: first moment, second moment, per-element update count; "<name>#<i>", PathOptimizer's names).
 *
 * One data file and one manifest (not a file per array), so a dump fits the device's few returned files.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../core/nn/backend.js';
import { buildSupernet } from '../core/nn/Supernet.js';
import { CompiledStep } from '../core/nn/webgpu/step/compiledStep.js';
import { startTestWebgpu } from '../core/nn/webgpu/step/testWebgpu.js';
import { archKey, largestArch, sampleArch } from '../core/space/archCodec.js';
import { createRng } from '../core/space/rng.js';
import { inputSampleShape, SearchSpace, type Arch } from '../core/space/SearchSpace.js';
import { PathOptimizer } from '../core/train/PathOptimizer.js';
import { logGpuErrors } from './logGpuErrors.js';

interface Args {
  dump: string;
  spaces: Set<string> | null;
  steps: number;
  batch: number;
  lr: number;
  subnetSeed: number;
  swiftshader: boolean;
  /** Spaces beyond the examples (--space-file a.json,b.json), e.g. a test space for a block the examples combine otherwise. */
  spaceFiles: string[];
}

function parseArgs(argv: string[]): Args {
  const get = (flag: string) => {
    const i = argv.indexOf(flag);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const dump = get('--dump');
  if (!dump) throw new Error('usage: checkCompiledStep.ts --dump DIR [--spaces a,b] [--steps 3] [--batch 64] [--lr 1e-3] [--subnet-seed 7] [--space-file a.json,…] [--swiftshader]');
  const spaces = get('--spaces');
  return {
    dump,
    spaces: spaces ? new Set(spaces.split(',')) : null,
    steps: Number(get('--steps') ?? 3),
    batch: Number(get('--batch') ?? 64),
    lr: Number(get('--lr') ?? 1e-3),
    subnetSeed: Number(get('--subnet-seed') ?? 7),
    swiftshader: argv.includes('--swiftshader'),
    spaceFiles: get('--space-file')?.split(',') ?? [],
  };
}

/** An array's place in data.bin (bytes from the start; dtype "f32" or "i32", little-endian). */
interface Entry {
  name: string;
  shape: number[];
  dtype: 'f32' | 'i32';
  offset: number;
}

class DataFile {
  private readonly fd: number;
  private at = 0;

  constructor(file: string) {
    this.fd = fs.openSync(file, 'w');
  }

  write(name: string, shape: readonly number[], a: Float32Array | Int32Array): Entry {
    const n = shape.reduce((p, q) => p * q, 1);
    if (a.length !== n) throw new Error(`${name}: ${a.length} elements for shape [${shape.join(', ')}]`);
    // Only the array's own view: tfjs may hand back a view into a larger buffer.
    fs.writeSync(this.fd, Buffer.from(a.buffer, a.byteOffset, a.byteLength));
    const e: Entry = { name, shape: shape.slice(), dtype: a instanceof Int32Array ? 'i32' : 'f32', offset: this.at };
    this.at += a.byteLength;
    return e;
  }

  close(): void {
    fs.closeSync(this.fd);
  }
}

/** The subnets a space is checked at: the largest and one random one (redrawn while it equals the largest). */
function subnetsOf(space: SearchSpace, seed: number): [string, Arch][] {
  const largest = largestArch(space);
  const rng = createRng(seed);
  for (let i = 0; i < 8; i++) {
    const a = sampleArch(space, rng);
    if (archKey(a) !== archKey(largest)) return [['largest', largest], [`random${seed}`, a]];
  }
  return [['largest', largest]];
}

/** One fixed batch: N(0, 1) inputs (token ids < vocab, as floats, for a token input) and int labels. */
function batchOf(space: SearchSpace, batch: number, labelRows: number, seed: number) {
  const rng = createRng(seed);
  const perSample = inputSampleShape(space.input);
  const n = batch * perSample.reduce((p, q) => p * q, 1);
  const vocab = space.input.kind === 'tokens' ? space.input.vocab : 0;
  const x = Float32Array.from({ length: n }, () => (vocab > 0 ? rng.int(vocab) : rng.normal()));
  const y = Int32Array.from({ length: labelRows }, () => rng.int(space.numClasses));
  return { x, y, xShape: [batch, ...perSample] };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (args.swiftshader) {
    if (!(await startTestWebgpu())) throw new Error('no WebGPU adapter (SwiftShader) started');
  } else await selectBackend('webgpu');
  logGpuErrors();
  const adapter = (await selectBackend('webgpu')).device;
  console.log(`backend webgpu: ${adapter}`);
  fs.mkdirSync(args.dump, { recursive: true });
  const data = new DataFile(path.join(args.dump, 'data.bin'));
  const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'assets', 'spaces');
  const cases: unknown[] = [];
  let errors = 0;
  const files = [...fs.readdirSync(dir).filter((f) => f.endsWith('.json')).sort().map((f) => path.join(dir, f)), ...args.spaceFiles];
  for (const file of files) {
    const spaceName = path.basename(file).replace(/\.json$/, '');
    if (args.spaces && !args.spaces.has(spaceName) && !args.spaceFiles.includes(file)) continue;
    const space = SearchSpace.parse(JSON.parse(fs.readFileSync(file, 'utf8')));
    for (const [label, arch] of subnetsOf(space, args.subnetSeed)) {
      const id = `${spaceName}.${label}`;
      const base = { id, space: spaceName, subnet: label, spec: space, arch, batch: args.batch, steps: args.steps };
      const net = buildSupernet(space, { seed: 1 });
      const vars = net.namedVariables();
      const opt = new PathOptimizer('adam', args.lr, vars);
      const perToken = net.perToken;
      const labelRows = perToken ? args.batch * inputSampleShape(space.input)[0]! : args.batch;
      const inputFloats = inputSampleShape(space.input).reduce((p, q) => p * q, 1);
      let step: CompiledStep | string;
      try {
        step = CompiledStep.build(net, arch, args.batch, inputFloats, opt);
      } catch (e) {
        step = `error: ${(e as Error).message}`;
      }
      if (typeof step === 'string') {
        const error = step.startsWith('error: ');
        if (error) errors++;
        console.log(`${error ? 'ERROR' : 'skip '} ${id}: ${step}`);
        cases.push({ ...base, [error ? 'error' : 'skipped']: step });
        opt.dispose();
        net.dispose();
        continue;
      }
      try {
        const { x, y, xShape } = batchOf(space, args.batch, labelRows, 1000 + cases.length);
        const arrays: Entry[] = [data.write('x', xShape, x), data.write('labels', [labelRows], y)];
        // Before the steps (the build only records dispatches; it runs nothing).
        const initial: Entry[] = [];
        for (const [name, v] of vars) initial.push(data.write(name, v.shape, (await v.data()) as Float32Array));
        step.setBatch(x, y);
        const losses: number[] = [];
        const correct: number[] = [];
        const reports: number[][] = [];
        // After every step: each variable and each trainable variable's slots (the checker replays every step
        // from the state before it, so one step's float32 rounding cannot grow into a different trajectory).
        const after: Entry[][] = [];
        let ms = 0;
        for (let t = 0; t < args.steps; t++) {
          const t0 = performance.now();
          step.run(opt.stepValues());
          opt.countUpdates(step.updated);
          const s = await step.stats();
          ms += performance.now() - t0;
          losses.push(s.loss);
          correct.push(s.correct);
          reports.push(Array.from(s.reports));
          const state: Entry[] = [];
          for (const [name, v] of vars) {
            state.push(data.write(name, v.shape, (await v.data()) as Float32Array));
            if (!v.trainable) continue;
            for (const [i, sv] of opt.slotsOf(v).entries()) state.push(data.write(`${name}#${i}`, sv.shape, (await sv.data()) as Float32Array));
          }
          after.push(state);
        }
        ms /= args.steps;
        const trainable = [...vars].filter(([, v]) => v.trainable).map(([n]) => n);
        const updated = [...vars].filter(([, v]) => step.updated.has(v as tf.Variable)).map(([n]) => n);
        cases.push({
          ...base,
          perToken,
          labelRows,
          optimizer: { kind: 'adam', ...opt.stepValues(), lazy: 'elements with a gradient of exactly 0 keep weight and slots; per-element update count t for the bias correction lr·√(1−β₂ᵗ)/(1−β₁ᵗ); ε added to √v' },
          losses,
          correct,
          reports,
          dispatches: step.dispatchCount,
          msPerStep: ms,
          trainable,
          updated,
          input: arrays,
          initial,
          after,
        });
        console.log(`ran   ${id}: ${step.dispatchCount} dispatches, ${ms.toFixed(1)} ms/step, losses ${losses.map((l) => l.toFixed(5)).join(' ')}`);
      } catch (e) {
        errors++;
        console.log(`ERROR ${id}: ${(e as Error).stack ?? e}`);
        cases.push({ ...base, error: `error: ${(e as Error).message}` });
      } finally {
        step.dispose();
        opt.dispose();
        net.dispose();
      }
    }
  }
  data.close();
  fs.writeFileSync(path.join(args.dump, 'manifest.json'), JSON.stringify({ device: adapter, cases }, null, 1));
  console.log(`wrote ${cases.length} cases to ${args.dump}${errors ? `, ${errors} errors` : ''}`);
  process.exit(errors ? 1 : 0);
}

await main();
