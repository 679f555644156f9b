/**
 * Starts @tensorflow/tfjs-backend-wasm with SIMD and, under Node.js, with its threaded build, which the
 * package itself never starts there.
 *
 * Why threads are off upstream (tfjs-backend-wasm 4.22, verified on Node 20): flags_wasm.ts answers
 * WASM_HAS_MULTITHREAD_SUPPORT = false whenever IS_NODE ("Enable node support once this is resolved",
 * tensorflow/tfjs#3830, closed without a fix; the fix proposed in tensorflow/tfjs#8059 was closed unmerged).
 * Forcing the flag on fails at once inside Emscripten's pthread pool:
 *   TypeError [ERR_WORKER_PATH]: The worker script or module filename must be an absolute path or a relative
 *   path starting with './' or '../'. Received "blob:nodedata:…"
 * because backend_wasm.ts hands Emscripten the pthread worker script as a Blob URL (URL.createObjectURL),
 * which a browser's Worker accepts and node:worker_threads' Worker does not; and the script every worker must
 * then load (the Emscripten factory, `mainScriptUrlOrBlob`) is a Blob too, which the worker's Node
 * `importScripts` (fs.readFileSync) cannot read. The Emscripten output itself does support Node workers (its
 * worker script requires worker_threads), so only the delivery of those two scripts is missing. This file
 * supplies it, for the duration of the backend's start only:
 * - `Worker` (Emscripten reads the global; it assigns worker_threads' Worker to it first) is, during the
 *   start, a subclass that starts a small CommonJS bootstrap instead of a Blob URL, sends it the worker
 *   script's text, and never refs the thread (Emscripten refs a worker when it hands it a pthread, and
 *   XNNPACK's pool threads never exit, so the process would never end; they only work while the main
 *   thread waits on them inside a kernel, so they need not keep the event loop alive).
 * - The bootstrap reads the factory Blob asynchronously, holding messages back meanwhile, and serves it to
 *   `importScripts`. The factory was serialized with Function.prototype.toString, so it refers to names of
 *   the rollup bundle that it no longer closes over (require$$0…4, commonjsGlobal, __dirname, _scriptDir and
 *   three tslib helpers, listed from tf-backend-wasm.node.js 4.22.0); the bootstrap defines them.
 * Every failure on the way (a worker error, the start not finishing within the timeout, another bundle
 * layout in a later tfjs) ends the threaded attempt and starts the single-threaded SIMD build instead,
 * with a note saying why.
 *
 * The thread count is capped by tfjs itself (backend.cc init_with_threads_count): at most 8 (the Emscripten
 * pool it pre-creates) and at most half the logical cores (it assumes two hardware threads per core). On a
 * 2-core machine that is 1 thread, so the threaded build is not started there at all (it would spawn 8
 * workers to use none of them).
 */
import { resolveObjectURL } from 'node:buffer';
import { createRequire } from 'node:module';
import path from 'node:path';
import { Worker as NodeWorker, type WorkerOptions } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';

/** The part of @tensorflow/tfjs-backend-wasm used here. */
export interface WasmBackendModule {
  setWasmPaths(prefix: string): void;
  setThreadsCount(threads: number): void;
  getThreadsCount(): number;
}

export interface WasmStart {
  ok: boolean;
  simd: boolean;
  threads: number;
  /** Why fewer threads than asked for (or why the start failed). */
  note?: string;
}

export interface WasmStartOptions {
  /** Threads wanted (the caller passes the logical core count, or the user's setting). */
  threads: number;
  /** Logical cores as Emscripten counts them under Node (os.cpus().length). */
  logicalCores: number;
  /** Deliver the worker scripts as described above (default true); false leaves tfjs' own delivery, to test the fallback. */
  nodeWorkers?: boolean;
  /** Longest wait for the threaded build (8 workers start on a loaded 2-core machine in about 0.5 s). */
  timeoutMs?: number;
}

/** Emscripten's pre-created pthread pool in the threaded build (cc/BUILD), also backend.cc's max_num_threads. */
const POOL_SIZE = 8;

/** The thread count tfjs-backend-wasm 4.22 will give for a request (backend.cc init_with_threads_count). */
export function wasmThreadCap(requested: number, logicalCores: number): number {
  const numCores = Math.floor(logicalCores / 2);
  return Math.max(0, Math.min(Math.max(requested, 1), POOL_SIZE, numCores)) || 1;
}

export function wasmDevice(simd: boolean, threads: number): string {
  return `WebAssembly (${simd ? 'SIMD, ' : ''}${threads} thread${threads === 1 ? '' : 's'})`;
}

/** First line of an error (its stack's, which carries Node's error code), or of a string. */
function firstLine(e: unknown): string {
  const err = e as { stack?: unknown; message?: unknown; code?: unknown } | null;
  const m = typeof err?.stack === 'string' ? err.stack : typeof err?.message === 'string' ? err.message : String(e);
  const line = m.split('\n')[0]!.slice(0, 300);
  return typeof err?.code === 'string' && !line.includes(err.code) ? `${line} (${err.code})` : line;
}

/** CommonJS run by each pool worker (worker_threads, eval: true) before Emscripten's worker script. */
function bootstrap(bundle: string): string {
  return `
const { parentPort } = require('worker_threads');
Object.assign(globalThis, {
  require$$0: require('fs'), require$$1: require('path'), require$$3: require('perf_hooks'), require$$4: require('os'),
  commonjsGlobal: globalThis, __dirname: ${JSON.stringify(path.dirname(bundle))}, _scriptDir: ${JSON.stringify(bundle)},
  __values: (o) => o[Symbol.iterator](),
  __read: (o) => Array.from(o),
  __spreadArray: (to, from) => to.concat(Array.from(from)),
});
const scripts = new Map();
let booted = false;
let chain = Promise.resolve();
function fail(e) {
  parentPort.postMessage({ switchyardBootError: String(e && e.stack || e).split('\\n')[0] });
}
function onMessage(m) {
  chain = chain.then(async () => {
    if (!booted) {
      // Emscripten's worker script listens on parentPort itself; messages go through this queue instead.
      const on = parentPort.on;
      parentPort.on = function () { return this; };
      try { (0, eval)(m.switchyardWorkerScript); } finally { parentPort.on = on; }
      const importScripts = globalThis.importScripts;
      globalThis.importScripts = (f) => (scripts.has(f) ? (0, eval)(scripts.get(f)) : importScripts(f));
      booted = true;
      return;
    }
    if (m && m.cmd === 'load' && typeof m.urlOrBlob !== 'string') {
      scripts.set('switchyard:wasm-factory', await m.urlOrBlob.text());
      m.urlOrBlob = 'switchyard:wasm-factory';
    }
    globalThis.onmessage({ data: m });
  }).catch(fail);
}
parentPort.on('message', onMessage);
`;
}

interface Delivery {
  workers: NodeWorker[];
  failure: Promise<string>;
  uninstall(): void;
}

/** Replace the global Worker for the threaded build's start (see the file comment). */
function installDelivery(bundle: string): Delivery {
  let reportFailure: (why: string) => void = () => {};
  const failure = new Promise<string>((resolve) => (reportFailure = resolve));
  const workers: NodeWorker[] = [];
  const code = bootstrap(bundle);

  class PoolWorker extends NodeWorker {
    private pending: Array<[unknown, readonly unknown[] | undefined]> | null = null;
    private pool = false;
    constructor(url: string | URL, options?: WorkerOptions) {
      const blob = typeof url === 'string' && url.startsWith('blob:') ? resolveObjectURL(url) : undefined;
      if (!blob) {
        super(url, options);
        return;
      }
      // No inherited execArgv: `--input-type=module` would make the bootstrap ESM (no require), and
      // `--import tsx` would load a TypeScript loader into each of the 8 workers.
      super(code, { eval: true, execArgv: [] });
      this.pool = true;
      this.pending = [];
      workers.push(this);
      // Never holds the process open (see ref below); the caller's timeout keeps it alive during the start.
      super.unref();
      super.on('error', (e: unknown) => reportFailure(`pool worker: ${firstLine(e)}`));
      super.on('message', (m: { switchyardBootError?: string } | null) => {
        if (m?.switchyardBootError) reportFailure(`pool worker: ${m.switchyardBootError}`);
      });
      void blob.text().then(
        (script) => {
          super.postMessage({ switchyardWorkerScript: script });
          for (const [m, t] of this.pending ?? []) super.postMessage(m, t as never);
          this.pending = null;
        },
        (e: unknown) => reportFailure(`reading the worker script: ${firstLine(e)}`),
      );
    }
    override postMessage(message: unknown, transfer?: readonly unknown[]): void {
      if (this.pending) this.pending.push([message, transfer]);
      else super.postMessage(message, transfer as never);
    }
    override on(event: string | symbol, listener: (...args: any[]) => void): this {
      if (!this.pool) return super.on(event, listener);
      // Emscripten's 'error' listener rethrows on the main thread (an uncaught exception that would end the
      // process): failures are reported through `failure` instead. Boot errors are not Emscripten's messages.
      if (event === 'error') return this;
      if (event === 'message') return super.on(event, (m: { switchyardBootError?: string } | null) => void (m?.switchyardBootError || listener(m)));
      return super.on(event, listener);
    }
    override ref(): void {
      if (!this.pool) super.ref();
    }
  }

  const g = globalThis as { Worker?: unknown };
  const before = Object.getOwnPropertyDescriptor(g, 'Worker');
  let assigned: unknown = before?.value;
  Object.defineProperty(g, 'Worker', {
    configurable: true,
    get: () => PoolWorker,
    set: (v: unknown) => (assigned = v),
  });
  return {
    workers,
    failure,
    uninstall() {
      // Leave what Emscripten assigned (worker_threads' Worker), as the unthreaded path would.
      if (assigned !== undefined) Object.defineProperty(g, 'Worker', { configurable: true, writable: true, value: assigned });
      else if (before) Object.defineProperty(g, 'Worker', before);
      else delete g.Worker;
    },
  };
}

async function quietly<T>(f: () => Promise<T>): Promise<{ value: T; warnings: string[] }> {
  // tfjs reports a failed backend start through console.warn with a stack; keep its first line for the note.
  const warn = console.warn;
  const warnings: string[] = [];
  console.warn = (...args: unknown[]) => warnings.push(args.map((a) => firstLine(a)).join(' '));
  try {
    return { value: await f(), warnings };
  } finally {
    console.warn = warn;
  }
}

async function startThreaded(wasm: WasmBackendModule, threads: number, opts: WasmStartOptions): Promise<{ ok: boolean; why?: string }> {
  const require = createRequire(import.meta.url);
  const delivery = opts.nodeWorkers === false ? null : installDelivery(require.resolve('@tensorflow/tfjs-backend-wasm'));
  let timer: NodeJS.Timeout | undefined;
  const timeoutMs = opts.timeoutMs ?? 15_000;
  const timeout = new Promise<string>((resolve) => (timer = setTimeout(() => resolve(`did not start within ${timeoutMs} ms`), timeoutMs)));
  try {
    tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
    wasm.setThreadsCount(threads);
    const { value, warnings } = await quietly(() =>
      Promise.race([tf.setBackend('wasm').then((ok) => (ok ? null : 'failed to start')), timeout, delivery?.failure ?? new Promise<never>(() => {})]),
    );
    if (value === null) return { ok: true };
    for (const w of delivery?.workers ?? []) void w.terminate();
    const detail = warnings.find((w) => !w.startsWith('Initialization of backend'));
    return { ok: false, why: detail ? `${value}: ${detail}` : value };
  } finally {
    clearTimeout(timer);
    delivery?.uninstall();
  }
}

/**
 * Start the wasm backend (tf.setBackend('wasm')) with SIMD where WebAssembly has it and as many threads as
 * tfjs allows here. Fails soft from threads to one thread; `ok` is false only if the backend cannot start.
 */
export async function startWasmBackend(wasm: WasmBackendModule, opts: WasmStartOptions): Promise<WasmStart> {
  const simd = (await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT')) === true;
  const cap = wasmThreadCap(opts.threads, opts.logicalCores);
  let note: string | undefined;
  if (opts.threads > 1 && cap < 2) {
    note = `wasm: 1 thread: tfjs-backend-wasm uses at most half the logical cores (${opts.logicalCores} here)`;
  } else if (opts.threads > 1 && !simd) {
    note = 'wasm: 1 thread: the threaded build needs WebAssembly SIMD, which this runtime lacks';
  } else if (opts.threads > 1 && typeof SharedArrayBuffer === 'undefined') {
    note = 'wasm: 1 thread: no SharedArrayBuffer in this runtime';
  } else if (opts.threads > 1) {
    const threaded = await startThreaded(wasm, cap, opts);
    if (threaded.ok) return { ok: true, simd, threads: wasm.getThreadsCount() };
    note = `wasm: 1 thread: the threaded build did not start (${threaded.why})`;
  }
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
  wasm.setThreadsCount(1);
  const { value: ok, warnings } = await quietly(() => tf.setBackend('wasm'));
  if (!ok) return { ok: false, simd, threads: 0, note: `wasm: the WebAssembly backend failed to start${warnings[1] ? ` (${warnings[1]})` : ''}` };
  return { ok: true, simd, threads: wasm.getThreadsCount(), note };
}
