/**
 * Matmul kernel sweep (issue 18, goal 3: 4096³ fp32 ≥ 40 TFLOP/s through the product's own WGSL kernel).
 * On the device machine, after `bash ../shared/device/pack.sh` (carrying `.device`):
 *
 *   bash .device/env.sh node --import tsx bench/matmulSweep.ts --size 4096 --json OUT/sweep.json
 *
 * Every variant of core/nn/webgpu/matmulKernel.ts (MATMUL_VARIANTS; one code generator) is
 *  1. checked on a small random product with ragged edges (509×380×636; 512×384×640 for the tile-aligned
 *     'guard none' variants) against a float64 CPU product: max |got − ref| / max |ref| < 1e-5, and
 *  2. timed at size³ for C = A·B (nn), Aᵀ·B (tn) and A·Bᵀ (nt), on two paths:
 *     raw   its own pipeline on its own device (requested with the adapter's maxComputeWorkgroupStorageSize
 *           and timestamp-query): `iters` back-to-back dispatches in one compute pass, one submission;
 *           GPU time from the pass's timestamps (wall time beside it), best of `reps`;
 *     tfjs  the product's path: GroupedMatmulProgram with that variant through tfjs-webgpu's
 *           runWebGPUProgram (tfjs' generated header, its buffer pool and uniforms), wall time over
 *           `iters` dispatches until the queue is idle.
 * 'base' is today's product kernel; it runs first and again last (the drift between the two is the
 * noise floor). tf.matMul with and without the override is timed beside (nn only).
 *
 * Options: --size N (4096) · --json FILE · --variants a,b (all) · --modes nn,tn,nt · --paths raw,tfjs
 * · --min-ms 200 (GPU time per measurement) · --reps 3 · --budget-s 500 (stop measuring after this; the
 * device machine allows 600 s per command) · --dawn-flag F (repeatable; Dawn for Node instance flags for
 * both devices, e.g. --dawn-flag enable-dawn-features=disable_robustness) · --list.
 */
/// <reference types="@webgpu/types" />
import fs from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../core/nn/backend.js';
import {
  DEFAULT_MATMUL_VARIANT,
  MATMUL_VARIANTS,
  matmulAligned,
  matmulDispatch,
  matmulKernelSource,
  matmulVariantChoice,
  matmulVariantKey,
  matmulWorkgroupBytes,
  matmulWorkgroupSize,
  type MatmulMode,
  type MatmulVariant,
} from '../core/nn/webgpu/matmulKernel.js';
import { fastMatmul, installFastMatmul } from '../core/nn/webgpu/matmulOverride.js';
import { matmulOperand, matmulRelErr, referenceMatmul } from '../core/nn/webgpu/matmulReference.js';
import { GroupedMatmulProgram, type WebGpuBackendLike } from '../core/nn/webgpu/moeKernels.js';
import { flushTfjs } from '../core/nn/webgpu/step/gpu.js';

// ---------------------------------------------------------------- options

const argv = process.argv.slice(2);
const opt = (name: string, dflt: string) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < argv.length ? argv[i + 1]! : dflt;
};
const SIZE = Number(opt('size', '4096'));
const JSON_OUT = opt('json', '');
const MODES = opt('modes', 'nn,tn,nt').split(',') as MatmulMode[];
const PATHS = new Set(opt('paths', 'raw,tfjs').split(','));
const MIN_MS = Number(opt('min-ms', '200'));
const REPS = Number(opt('reps', '3'));
const BUDGET_S = Number(opt('budget-s', '500'));
const DAWN_FLAGS = argv.flatMap((a, i) => (a === '--dawn-flag' && i + 1 < argv.length ? [argv[i + 1]!] : []));
const NAMES = opt('variants', Object.keys(MATMUL_VARIANTS).join(',')).split(',');
for (const n of NAMES) if (!MATMUL_VARIANTS[n]) throw new Error(`unknown variant ${n}; known: ${Object.keys(MATMUL_VARIANTS).join(', ')}`);
const T0 = performance.now();
const elapsedS = () => (performance.now() - T0) / 1000;
const FLOP = 2 * SIZE ** 3;
const tflops = (ms: number) => FLOP / (ms * 1e-3) / 1e12;

// ---------------------------------------------------------------- small random case and its reference

interface Small {
  M: number;
  N: number;
  K: number;
  a: Float32Array;
  b: Float32Array;
  ref: Float64Array;
}

const smallCache = new Map<string, Small>();
function small(mode: MatmulMode, aligned: boolean): Small {
  const key = `${mode}_${aligned}`;
  let s = smallCache.get(key);
  if (!s) {
    // Ragged against every tile (509 % 64, 380 % 64, 636 % 32 ≠ 0); tn needs M % 4 == 0 (vec4 along m).
    const [M, N, K] = aligned ? [512, 384, 640] : [mode === 'tn' ? 508 : 509, 380, 636];
    const a = matmulOperand(M * K, 11);
    const b = matmulOperand(K * N, 12);
    s = { M, N, K, a, b, ref: referenceMatmul({ mode, batches: 1, M, N, K }, a, b) };
    smallCache.set(key, s);
  }
  return s;
}

// ---------------------------------------------------------------- raw path: own device and pipelines

/** tfjs-webgpu's conventions, reduced to what matmulKernelSource uses (bindings, uniforms, builtins). */
function rawShader(p: MatmulVariant, mode: MatmulMode): string {
  const [x, y] = matmulWorkgroupSize(p);
  return `
struct Uniforms { M : i32, N4 : i32, K : i32, aBatch : i32, bBatch : i32, countOff : i32, };
@group(0) @binding(0) var<storage, read_write> result : array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> A : array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> B : array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> R : array<i32>;
@group(0) @binding(4) var<uniform> uniforms : Uniforms;
var<private> localId : vec3<u32>;
var<private> workgroupId : vec3<u32>;
var<private> numWorkgroups : vec3<u32>;
${matmulKernelSource(p, mode, { bias: false, relu: false, mask: false })}
@compute @workgroup_size(${x}, ${y}, 1)
fn _start(@builtin(local_invocation_id) LocalId : vec3<u32>, @builtin(workgroup_id) WorkgroupId : vec3<u32>,
          @builtin(num_workgroups) NumWorkgroups : vec3<u32>) {
  localId = LocalId;
  workgroupId = WorkgroupId;
  numWorkgroups = NumWorkgroups;
  main(0);
}
`;
}

interface RawOperands {
  M: number;
  N: number;
  K: number;
  a: GPUBuffer;
  b: GPUBuffer;
  c: GPUBuffer;
  route: GPUBuffer;
  uniforms: GPUBuffer;
}

class Raw {
  private constructor(
    readonly device: GPUDevice,
    readonly timestamps: boolean,
  ) {}

  static async create(): Promise<Raw> {
    const gpu = (globalThis as unknown as { navigator: { gpu: GPU } }).navigator.gpu;
    const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
    if (!adapter) throw new Error('no adapter for the raw device');
    const timestamps = adapter.features.has('timestamp-query');
    const device = await adapter.requestDevice({
      requiredFeatures: timestamps ? ['timestamp-query'] : [],
      requiredLimits: {
        maxComputeWorkgroupStorageSize: adapter.limits.maxComputeWorkgroupStorageSize,
        maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
        maxBufferSize: adapter.limits.maxBufferSize,
        maxComputeInvocationsPerWorkgroup: adapter.limits.maxComputeInvocationsPerWorkgroup,
      },
    });
    device.lost.then((i) => console.error(`raw device lost: ${i.message}`));
    return new Raw(device, timestamps);
  }

  buffer(data: Float32Array | Int32Array | number, usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC): GPUBuffer {
    const bytes = typeof data === 'number' ? data : data.byteLength;
    const buf = this.device.createBuffer({ size: Math.max(16, Math.ceil(bytes / 16) * 16), usage });
    if (typeof data !== 'number') this.device.queue.writeBuffer(buf, 0, data.buffer, data.byteOffset, data.byteLength);
    return buf;
  }

  operands(M: number, N: number, K: number, a: Float32Array | null, b: Float32Array | null): RawOperands {
    const u = new Int32Array([M, N / 4, K, 0, 0, -1, 0, 0]);
    return {
      M,
      N,
      K,
      a: this.buffer(a ?? M * K * 4),
      b: this.buffer(b ?? K * N * 4),
      c: this.buffer(M * N * 4),
      route: this.buffer(new Int32Array([0])),
      uniforms: this.buffer(u, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST),
    };
  }

  async pipeline(p: MatmulVariant, mode: MatmulMode): Promise<GPUComputePipeline> {
    this.device.pushErrorScope('validation');
    const module = this.device.createShaderModule({ code: rawShader(p, mode), label: matmulVariantKey(p) });
    const info = await module.getCompilationInfo();
    const errors = info.messages.filter((m) => m.type === 'error');
    if (errors.length) {
      await this.device.popErrorScope();
      throw new Error(`WGSL: ${errors.map((m) => `${m.lineNum}:${m.linePos} ${m.message}`).join('; ')}`);
    }
    const pipe = await this.device.createComputePipelineAsync({ layout: 'auto', compute: { module, entryPoint: '_start' } });
    const err = await this.device.popErrorScope();
    if (err) throw new Error(err.message);
    return pipe;
  }

  bindGroup(pipe: GPUComputePipeline, o: RawOperands): GPUBindGroup {
    return this.device.createBindGroup({
      layout: pipe.getBindGroupLayout(0),
      entries: [o.c, o.a, o.b, o.route, o.uniforms].map((buffer, binding) => ({ binding, resource: { buffer } })),
    });
  }

  /** `iters` dispatches in one pass: [GPU ms per dispatch from timestamps (NaN without), wall ms per dispatch]. */
  async time(pipe: GPUComputePipeline, bg: GPUBindGroup, wg: [number, number, number], iters: number): Promise<[number, number]> {
    const d = this.device;
    const qs = this.timestamps ? d.createQuerySet({ type: 'timestamp', count: 2 }) : null;
    const enc = d.createCommandEncoder();
    const pass = enc.beginComputePass(qs ? { timestampWrites: { querySet: qs, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 } } : {});
    pass.setPipeline(pipe);
    pass.setBindGroup(0, bg);
    for (let i = 0; i < iters; i++) pass.dispatchWorkgroups(...wg);
    pass.end();
    let read: GPUBuffer | null = null;
    if (qs) {
      const resolve = d.createBuffer({ size: 16, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
      read = d.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
      enc.resolveQuerySet(qs, 0, 2, resolve, 0);
      enc.copyBufferToBuffer(resolve, 0, read, 0, 16);
    }
    const t0 = performance.now();
    d.queue.submit([enc.finish()]);
    await d.queue.onSubmittedWorkDone();
    const wall = (performance.now() - t0) / iters;
    let gpu = NaN;
    if (read) {
      await read.mapAsync(GPUMapMode.READ);
      const [b, e] = new BigInt64Array(read.getMappedRange());
      gpu = Number(e! - b!) / 1e6 / iters;
      read.unmap();
      read.destroy();
      qs!.destroy();
    }
    return [gpu, wall];
  }

  async read(buf: GPUBuffer, floats: number): Promise<Float32Array> {
    const d = this.device;
    const staging = d.createBuffer({ size: floats * 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    const enc = d.createCommandEncoder();
    enc.copyBufferToBuffer(buf, 0, staging, 0, floats * 4);
    d.queue.submit([enc.finish()]);
    await staging.mapAsync(GPUMapMode.READ);
    const out = new Float32Array(staging.getMappedRange().slice(0));
    staging.unmap();
    staging.destroy();
    return out;
  }

  async check(p: MatmulVariant, mode: MatmulMode, pipe: GPUComputePipeline): Promise<number> {
    const s = small(mode, p.guard === 'none');
    const o = this.operands(s.M, s.N, s.K, s.a, s.b);
    this.device.pushErrorScope('validation');
    await this.time(pipe, this.bindGroup(pipe, o), matmulDispatch(p, s.M, s.N, 1), 1);
    const err = await this.device.popErrorScope();
    if (err) throw new Error(err.message);
    const got = await this.read(o.c, s.M * s.N);
    for (const b of [o.a, o.b, o.c, o.route, o.uniforms]) b.destroy();
    return matmulRelErr(got, s.ref);
  }
}

/** Iterations for about MIN_MS of GPU time, from one short timed run. */
async function measure(run: (iters: number) => Promise<number>, reps: number): Promise<number> {
  await run(2); // warm-up (first dispatch pays the pipeline's first use)
  const probe = await run(3);
  const iters = Math.max(5, Math.min(400, Math.ceil(MIN_MS / Math.max(probe, 0.01))));
  let best = Infinity;
  for (let r = 0; r < reps; r++) best = Math.min(best, await run(iters));
  return best;
}

// ---------------------------------------------------------------- tfjs path: the product's program

const be = () => tf.backend() as unknown as WebGpuBackendLike & { device: GPUDevice };

async function tfjsIdle(): Promise<void> {
  flushTfjs();
  await be().device.queue.onSubmittedWorkDone();
}

const uniformsOf = (M: number, N: number, K: number) => [M, N / 4, K, 0, 0, -1].map((d) => ({ type: 'int32' as const, data: [d] }));

function tfjsProgram(p: MatmulVariant, mode: MatmulMode, M: number, N: number) {
  return new GroupedMatmulProgram(1, M, N, mode, p.bk, { bias: false, relu: false, mask: false }, p.unroll, p.aStage === 'km', p.stages, p);
}

async function tfjsCheck(p: MatmulVariant, mode: MatmulMode, route: tf.Tensor): Promise<number> {
  const s = small(mode, p.guard === 'none');
  const a = tf.tensor1d(s.a);
  const b = tf.tensor1d(s.b);
  const out = be().runWebGPUProgram(tfjsProgram(p, mode, s.M, s.N), [a, b, route], 'float32', uniformsOf(s.M, s.N, s.K));
  const y = tf.engine().makeTensorFromTensorInfo(out);
  const got = (await y.data()) as Float32Array;
  tf.dispose([a, b, y]);
  return matmulRelErr(got, s.ref);
}

async function tfjsTime(p: MatmulVariant, mode: MatmulMode, a: tf.Tensor, b: tf.Tensor, route: tf.Tensor): Promise<number> {
  const program = tfjsProgram(p, mode, SIZE, SIZE);
  const u = uniformsOf(SIZE, SIZE, SIZE);
  return measure(async (iters) => {
    await tfjsIdle();
    const t0 = performance.now();
    for (let i = 0; i < iters; i++) {
      const out = be().runWebGPUProgram(program, [a, b, route], 'float32', u);
      (tf.backend() as unknown as { disposeData(id: unknown): void }).disposeData(out.dataId);
    }
    await tfjsIdle();
    return (performance.now() - t0) / iters;
  }, 1);
}

async function tfMatMulTime(a: tf.Tensor2D, b: tf.Tensor2D, override: boolean): Promise<number> {
  fastMatmul.enabled = override;
  const ms = await measure(async (iters) => {
    await tfjsIdle();
    const t0 = performance.now();
    for (let i = 0; i < iters; i++) tf.matMul(a, b).dispose();
    await tfjsIdle();
    return (performance.now() - t0) / iters;
  }, 1);
  fastMatmul.enabled = true;
  return ms;
}

// ---------------------------------------------------------------- sweep

interface Row {
  variant: string;
  key: string;
  mode: MatmulMode;
  threads: number;
  workgroupBytes: number;
  guardUsed: string;
  rawErr?: number;
  tfjsErr?: number;
  rawGpuMs?: number;
  rawWallMs?: number;
  tfjsMs?: number;
  rawTflops?: number;
  tfjsTflops?: number;
  error?: string;
  skipped?: string;
}

async function main(): Promise<void> {
  if (argv.includes('--list')) {
    for (const [n, p] of Object.entries(MATMUL_VARIANTS)) console.log(`${n.padEnd(30)} ${matmulVariantKey(p)}  ${(matmulWorkgroupBytes(p, 'nn') / 1024).toFixed(1)} KB`);
    return;
  }
  if (DAWN_FLAGS.length > 0) {
    // One Dawn instance with the flags, made before selectBackend (which then reuses navigator.gpu), so
    // the tfjs device and the raw device both get them (a second instance aborts Dawn for Node here).
    const webgpu = (await import('webgpu')) as unknown as { create(flags: string[]): GPU; globals: object };
    Object.assign(globalThis, webgpu.globals);
    const g = globalThis as unknown as { navigator?: { gpu?: GPU } };
    g.navigator ??= {};
    g.navigator.gpu = webgpu.create(DAWN_FLAGS);
  }
  const info = await selectBackend('webgpu');
  installFastMatmul();
  const raw = PATHS.has('raw') ? await Raw.create() : null;
  const tfLimit = be().device.limits.maxComputeWorkgroupStorageSize;
  const rawLimit = raw?.device.limits.maxComputeWorkgroupStorageSize ?? 0;
  console.log(`backend ${info.name}: ${info.device}`);
  console.log(`size ${SIZE}³ (${(FLOP / 1e9).toFixed(1)} GFLOP), modes ${MODES.join(',')}, paths ${[...PATHS].join(',')}, min ${MIN_MS} ms × ${REPS} reps`);
  console.log(`workgroup memory: tfjs device ${tfLimit} B, raw device ${rawLimit} B; raw timestamps ${raw?.timestamps ?? false}; dawn flags ${DAWN_FLAGS.join(' ') || '(none)'}`);

  // Operands at size³ (square: one pair serves nn, tn and nt), on both devices.
  const A = matmulOperand(SIZE * SIZE, 1);
  const B = matmulOperand(SIZE * SIZE, 2);
  const rawBig = raw?.operands(SIZE, SIZE, SIZE, A, B);
  const ta = tf.tensor1d(A);
  const tb = tf.tensor1d(B);
  const route = tf.tensor1d([0], 'int32');

  const rows: Row[] = [];
  const extra: Record<string, number> = {};
  if (matmulVariantChoice.name !== DEFAULT_MATMUL_VARIANT) console.log(`note: SWITCHYARD_MATMUL_VARIANT=${matmulVariantChoice.name} (the tf.matMul rows use it)`);
  const save = (bestNn?: string) =>
    JSON_OUT && fs.writeFileSync(JSON_OUT, JSON.stringify({ size: SIZE, device: info.device, tfLimit, rawLimit, dawnFlags: DAWN_FLAGS, bestNn, extra, rows }, null, 1));

  const a2 = ta.reshape([SIZE, SIZE]) as tf.Tensor2D;
  const b2 = tb.reshape([SIZE, SIZE]) as tf.Tensor2D;
  if (PATHS.has('tfjs') && MODES.includes('nn')) {
    extra.tfMatMulPackedMs = await tfMatMulTime(a2, b2, false);
    extra.tfMatMulOverrideMs = await tfMatMulTime(a2, b2, true);
    console.log(`tf.matMul ${SIZE}³: tfjs MatMulPacked ${extra.tfMatMulPackedMs.toFixed(2)} ms = ${tflops(extra.tfMatMulPackedMs).toFixed(2)} TFLOP/s; ` + `through the override (default variant) ${extra.tfMatMulOverrideMs.toFixed(2)} ms = ${tflops(extra.tfMatMulOverrideMs).toFixed(2)} TFLOP/s`);
  }

  // Mode-major (nn, the goal's product, first: if the time budget runs out, it is the later modes that
  // go), 'base' again at the end of each mode.
  const order = NAMES.includes('base') && NAMES.length > 1 ? [...NAMES, 'base'] : NAMES;
  for (const mode of MODES) {
    for (const [idx, name] of order.entries()) {
      const label = idx === order.length - 1 && idx > 0 && name === 'base' ? 'base (again)' : name;
      const p0 = MATMUL_VARIANTS[name]!;
      const p = p0.guard === 'none' && !matmulAligned(p0, mode, { M: SIZE, N: SIZE, K: SIZE, routed: false }) ? { ...p0, guard: 'select' as const } : p0;
      const [x, y] = matmulWorkgroupSize(p);
      const row: Row = { variant: label, key: matmulVariantKey(p), mode, threads: x * y, workgroupBytes: matmulWorkgroupBytes(p, mode), guardUsed: p.guard };
      rows.push(row);
      if (elapsedS() > BUDGET_S) {
        row.skipped = 'time budget';
        continue;
      }
      try {
        if (raw && rawBig && row.workgroupBytes <= rawLimit) {
          const pipe = await raw.pipeline(p, mode);
          row.rawErr = await raw.check(p0, mode, pipe);
          const bg = raw.bindGroup(pipe, rawBig);
          const wg = matmulDispatch(p, SIZE, SIZE, 1);
          let bestWall = Infinity;
          row.rawGpuMs = await measure(async (iters) => {
            const [gpu, wall] = await raw.time(pipe, bg, wg, iters);
            bestWall = Math.min(bestWall, wall);
            return Number.isNaN(gpu) ? wall : gpu;
          }, REPS);
          row.rawWallMs = bestWall;
          row.rawTflops = tflops(row.rawGpuMs);
        }
        if (PATHS.has('tfjs') && row.workgroupBytes <= tfLimit) {
          row.tfjsErr = await tfjsCheck(p0, mode, route);
          row.tfjsMs = await tfjsTime(p, mode, ta, tb, route);
          row.tfjsTflops = tflops(row.tfjsMs);
        }
        if (row.rawErr === undefined && row.tfjsErr === undefined) row.skipped = `needs ${row.workgroupBytes} B of workgroup memory`;
      } catch (e) {
        row.error = e instanceof Error ? e.message.split('\n')[0]!.slice(0, 300) : String(e);
      }
      const f = (v?: number, d = 2) => (v === undefined || Number.isNaN(v) ? '—' : v.toFixed(d));
      const e = (v?: number) => (v === undefined ? '—' : v.toExponential(1));
      const ok = [row.rawErr, row.tfjsErr].every((v) => v === undefined || v < 1e-5) ? '' : ' CHECK FAIL';
      console.log(
        `${label.padEnd(30)} ${mode} raw ${f(row.rawTflops)} TFLOP/s (${f(row.rawGpuMs, 3)} ms gpu, ${f(row.rawWallMs, 3)} wall) · tfjs ${f(row.tfjsTflops)} TFLOP/s · err ${e(row.rawErr)} / ${e(row.tfjsErr)}` +
          `${ok}${row.error ? ` ERROR ${row.error}` : ''}${row.skipped ? ` skipped: ${row.skipped}` : ''}  [${row.key}, ${row.threads} thr, ${(row.workgroupBytes / 1024).toFixed(1)} KB] t=${elapsedS().toFixed(0)}s`,
      );
      save();
    }
  }

  // Summary: per mode, the variants ranked by the product's path (tfjs), raw beside.
  let best: string | undefined;
  console.log(`\n## ${SIZE}³ fp32 TFLOP/s, ranked by the product path (tfjs); raw = own pipeline, GPU timestamps`);
  for (const mode of MODES) {
    const ok = rows.filter((r) => r.mode === mode && !r.error && !r.skipped && [r.rawErr, r.tfjsErr].every((v) => v === undefined || v < 1e-5));
    const score = (r: Row) => r.tfjsTflops ?? r.rawTflops ?? 0;
    ok.sort((x, y) => score(y) - score(x));
    console.log(`\n| ${mode} variant | tfjs | raw | raw wall | err | params |\n|---|---|---|---|---|---|`);
    for (const r of ok) {
      console.log(`| ${r.variant} | ${r.tfjsTflops?.toFixed(2) ?? '—'} | ${r.rawTflops?.toFixed(2) ?? '—'} | ${r.rawWallMs ? tflops(r.rawWallMs).toFixed(2) : '—'} | ${Math.max(r.rawErr ?? 0, r.tfjsErr ?? 0).toExponential(1)} | ${r.key} |`);
    }
    const bad = rows.filter((r) => r.mode === mode && !ok.includes(r) && !r.skipped);
    for (const r of bad) console.log(`FAILED ${mode} ${r.variant}: ${r.error ?? `err ${r.rawErr} / ${r.tfjsErr}`}`);
    if (ok[0]) console.log(`best ${mode}: ${ok[0].variant} → SWITCHYARD_MATMUL_VARIANT=${ok[0].variant.replace(' (again)', '')}`);
    if (ok[0] && mode === 'nn') best = ok[0].variant.replace(' (again)', '');
  }
  // The winner end to end: tf.matMul through the override with SWITCHYARD_MATMUL_VARIANT=<best nn>.
  if (PATHS.has('tfjs') && best && best !== 'base') {
    const prev = matmulVariantChoice.name;
    matmulVariantChoice.name = best;
    extra.tfMatMulBestMs = await tfMatMulTime(a2, b2, true);
    matmulVariantChoice.name = prev;
    save(best);
    console.log(`\ntf.matMul ${SIZE}³ through the override with SWITCHYARD_MATMUL_VARIANT=${best}: ${extra.tfMatMulBestMs.toFixed(2)} ms = ${tflops(extra.tfMatMulBestMs).toFixed(2)} TFLOP/s`);
  }
  save(best);
  const failed = rows.some((r) => r.error || [r.rawErr, r.tfjsErr].some((v) => v !== undefined && !(v < 1e-5)));
  console.log(failed ? '\nSOME VARIANTS FAILED (see above)' : '\nALL CHECKS PASS');
  if (failed) process.exitCode = 1;
  tf.dispose([ta, tb, a2, b2, route]);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
