/**
 * Picks the TensorFlow.js backend for this process: native TensorFlow (tfjs-node-gpu, then tfjs-node),
 * WebGPU through Dawn for Node (the `webgpu` package), WebAssembly, then the plain-JS CPU backend.
 *
 * Every step fails soft under 'auto' (the reason goes into `notes`) and hard when that backend was asked
 * for by name. The result is cached: calling again with the same choice returns the same object.
 */
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { BackendChoice, BackendInfo, BackendName } from '../protocol/protocol.js';
import { startWasmBackend, wasmDevice, type WasmBackendModule } from './nodeWasmThreads.js';
import { installFastMatmul } from './webgpu/matmulOverride.js';
import { registerMoeKernels } from './webgpu/moeKernels.js';
import { installBroadcastReductionGradients } from './webgpu/reductionGradients.js';

/** Longest wait for a WebGPU adapter before giving up on it (a missing driver answers at once). */
const ADAPTER_TIMEOUT_MS = 5000;

interface Attempt {
  ok: boolean;
  device?: string;
  /** Why it failed; on success, what it could not do (e.g. fewer wasm threads than cores). */
  note?: string;
}

let cached: { choice: BackendChoice; info: BackendInfo } | null = null;
let inFlight: { choice: BackendChoice; promise: Promise<BackendInfo> } | null = null;
const attempts = new Map<BackendName, Attempt>();

const ORDER: readonly BackendName[] = ['tensorflow', 'webgpu', 'wasm', 'cpu'];

function message(e: unknown): string {
  const m = e instanceof Error ? e.message : String(e);
  return m.split('\n')[0]!.slice(0, 300);
}

/** Import a module whose name is only known at run time (keeps optional packages out of type checks). */
async function importOptional(specifier: string): Promise<unknown> {
  return import(/* @vite-ignore */ specifier);
}

async function tryTensorflow(): Promise<Attempt> {
  const tried: string[] = [];
  for (const pkg of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
    try {
      await importOptional(pkg);
      if (!(await tf.setBackend('tensorflow'))) throw new Error('setBackend("tensorflow") returned false');
      return { ok: true, device: pkg.endsWith('-gpu') ? 'TensorFlow C library (CUDA)' : `TensorFlow C library (CPU, ${os.cpus().length} cores)` };
    } catch (e) {
      tried.push(`${pkg}: ${message(e)}`);
    }
  }
  return { ok: false, note: `tensorflow: native bindings not available (${tried.join('; ')})` };
}

interface GpuAdapterLike {
  info?: { vendor?: string; architecture?: string; device?: string; description?: string };
}

async function tryWebgpu(): Promise<Attempt> {
  try {
    const g = globalThis as unknown as { navigator?: { gpu?: { requestAdapter(): Promise<GpuAdapterLike | null> } } };
    if (!g.navigator?.gpu) {
      const webgpu = (await importOptional('webgpu')) as { create(flags: string[]): unknown; globals: object };
      Object.assign(globalThis, webgpu.globals);
      g.navigator ??= {};
      g.navigator.gpu = webgpu.create([]) as NonNullable<typeof g.navigator>['gpu'];
    }
    const timeout = new Promise<null>((resolve) => setTimeout(() => resolve(null), ADAPTER_TIMEOUT_MS).unref?.());
    const adapter = await Promise.race([g.navigator!.gpu!.requestAdapter(), timeout]);
    if (!adapter) return { ok: false, note: 'webgpu: no GPU adapter found (no Vulkan/Metal/D3D12 driver, or no GPU)' };
    await importOptional('@tensorflow/tfjs-backend-webgpu');
    if (!(await tf.setBackend('webgpu'))) return { ok: false, note: 'webgpu: an adapter exists but the tfjs WebGPU backend failed to start' };
    const info = adapter.info ?? {};
    const device = [info.vendor, info.architecture, info.device, info.description].filter((s) => s && s.length > 0).join(' ');
    return { ok: true, device: device ? `WebGPU: ${device}` : 'WebGPU adapter' };
  } catch (e) {
    return { ok: false, note: `webgpu: ${message(e)}` };
  }
}

/**
 * Threads asked of the wasm backend: SWITCHYARD_WASM_THREADS (a positive integer; 1 keeps the
 * single-threaded SIMD build) or every logical core; tfjs caps it (nodeWasmThreads.ts wasmThreadCap).
 */
function wasmThreadsWanted(): number {
  const set = Number(process.env.SWITCHYARD_WASM_THREADS);
  return Number.isInteger(set) && set > 0 ? set : os.cpus().length;
}

async function tryWasm(): Promise<Attempt> {
  try {
    const wasm = (await importOptional('@tensorflow/tfjs-backend-wasm')) as WasmBackendModule;
    const require = createRequire(import.meta.url);
    const dist = path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + path.sep;
    wasm.setWasmPaths(dist);
    const start = await startWasmBackend(wasm, { threads: wasmThreadsWanted(), logicalCores: os.cpus().length });
    if (!start.ok) return { ok: false, note: start.note ?? 'wasm: the WebAssembly backend failed to start' };
    return { ok: true, device: wasmDevice(start.simd, start.threads), note: start.note };
  } catch (e) {
    return { ok: false, note: `wasm: ${message(e)}` };
  }
}

async function tryCpu(): Promise<Attempt> {
  if (!(await tf.setBackend('cpu'))) return { ok: false, note: 'cpu: the JavaScript backend failed to start' };
  return { ok: true, device: `CPU (JavaScript, ${os.cpus().length} cores)` };
}

const TRY: Record<BackendName, () => Promise<Attempt>> = {
  tensorflow: tryTensorflow,
  webgpu: tryWebgpu,
  wasm: tryWasm,
  cpu: tryCpu,
};

/** Try a backend once per process; later calls only switch to it again. */
async function attempt(name: BackendName): Promise<Attempt> {
  const prev = attempts.get(name);
  if (prev) {
    if (prev.ok && tf.getBackend() !== name && !(await tf.setBackend(name))) return { ok: false, note: `${name}: failed to start again` };
    return prev;
  }
  const a = await TRY[name]();
  attempts.set(name, a);
  return a;
}

async function select(choice: BackendChoice): Promise<BackendInfo> {
  const notes: string[] = [];
  let chosen: { name: BackendName; device: string } | null = null;
  const candidates = choice === 'auto' ? ORDER : [choice];
  for (const name of candidates) {
    const a = await attempt(name);
    if (a.ok) {
      chosen = { name, device: a.device! };
      if (a.note) notes.push(a.note);
      break;
    }
    notes.push(a.note!);
  }
  if (!chosen) {
    throw new Error(`backend "${choice}" is not available here: ${notes.join('; ')}`);
  }
  // `available` lists what loads here, in preference order. Backends below the chosen one are probed
  // too (wasm starts in well under a second; the JS CPU backend always loads) so a client can offer them.
  for (const name of ORDER.slice(ORDER.indexOf(chosen.name) + 1)) if (name !== 'cpu') await attempt(name);
  const available = ORDER.filter((name) => name === 'cpu' || attempts.get(name)?.ok === true);
  if (tf.getBackend() !== chosen.name && !(await tf.setBackend(chosen.name))) {
    throw new Error(`backend "${chosen.name}" loaded but could not be re-activated`);
  }
  if (chosen.name === 'webgpu') {
    // tfjs' own Sum/Mean gradients upload a JS-filled `ones` buffer every backward pass, the largest
    // host cost of a training step on WebGPU (bench/RESULTS.md); the MoE layer's fused kernels
    // (moeFfnFused) are registered here once so the first training step does not pay for it.
    installBroadcastReductionGradients();
    registerMoeKernels();
    // Large fp32 products (tf.matMul included) through the project's 128×128-tile kernel (matmulOverride.ts).
    installFastMatmul();
  }
  return { name: chosen.name, device: chosen.device, available, notes };
}

/**
 * Select and activate a backend. 'auto' takes the first that works in the order tensorflow → webgpu →
 * wasm → cpu; a named backend that cannot start throws an Error saying why.
 */
export async function selectBackend(choice: BackendChoice = 'auto'): Promise<BackendInfo> {
  if (cached && cached.choice === choice && tf.getBackend() === cached.info.name) return cached.info;
  if (inFlight && inFlight.choice === choice) return inFlight.promise;
  const promise = select(choice).then((info) => {
    cached = { choice, info };
    return info;
  });
  inFlight = { choice, promise };
  try {
    return await promise;
  } finally {
    if (inFlight?.promise === promise) inFlight = null;
  }
}

/** The last successful selection, if any (no side effects). */
export function currentBackend(): BackendInfo | null {
  return cached && tf.getBackend() === cached.info.name ? cached.info : null;
}
