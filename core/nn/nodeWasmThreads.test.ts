/**
 * The threaded SIMD wasm build under Node (nodeWasmThreads.ts). This host has 2 logical cores, for which
 * tfjs grants 1 thread (half the logical cores); os.cpus is made to report 4 during the start, as on a
 * 4-core machine, so that XNNPACK's pool gets 2 threads here. Results are checked against the tfjs CPU
 * backend running the same ops.
 */
import os from 'node:os';
import { createRequire } from 'node:module';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { startWasmBackend, wasmDevice, wasmThreadCap, type WasmBackendModule } from './nodeWasmThreads.js';

function inputs(): tf.Tensor[] {
  return [tf.randomNormal([2, 12, 12, 5], 0, 1, 'float32', 1), tf.randomNormal([3, 3, 5, 7], 0, 1, 'float32', 2), tf.randomNormal([300, 200], 0, 1, 'float32', 3), tf.randomNormal([200, 150], 0, 1, 'float32', 4)];
}

/** XNNPACK's threaded kernels: a conv2d, and a dense layer's forward and weight gradient. */
function compute(): number[][] {
  const [x, w, a, b] = inputs() as [tf.Tensor4D, tf.Tensor4D, tf.Tensor2D, tf.Tensor2D];
  const loss = (wt: tf.Tensor) => tf.relu(tf.matMul(a, wt as tf.Tensor2D)).square().mean();
  const db = tf.grad(loss)(b);
  return [[...tf.conv2d(x, w, 1, 'same').dataSync()], [...tf.matMul(a, b).dataSync()], [...loss(b).dataSync()], [...db.dataSync()]];
}

function maxRelErr(got: number[], want: number[]): number {
  const scale = Math.max(...want.map(Math.abs));
  return Math.max(...got.map((g, i) => Math.abs(g - want[i]!))) / scale;
}

afterAll(() => vi.restoreAllMocks());

const here = path.dirname(fileURLToPath(import.meta.url));

describe('wasm thread count and device string', () => {
  it('follows tfjs-backend-wasm: at most half the logical cores, at most 8, at least 1', () => {
    expect(wasmThreadCap(2, 2)).toBe(1);
    expect(wasmThreadCap(4, 4)).toBe(2);
    expect(wasmThreadCap(16, 16)).toBe(8);
    expect(wasmThreadCap(32, 64)).toBe(8);
    expect(wasmThreadCap(3, 16)).toBe(3);
    expect(wasmThreadCap(1, 16)).toBe(1);
    expect(wasmThreadCap(4, 1)).toBe(1);
    expect(wasmDevice(true, 2)).toBe('WebAssembly (SIMD, 2 threads)');
    expect(wasmDevice(true, 1)).toBe('WebAssembly (SIMD, 1 thread)');
    expect(wasmDevice(false, 1)).toBe('WebAssembly (1 thread)');
  });
});

describe('startWasmBackend under Node', () => {
  it('starts the threaded SIMD build with 2 pool threads and matches the CPU backend', async () => {
    await tf.setBackend('cpu');
    const want = compute();

    const require = createRequire(import.meta.url);
    const wasm = (await import('@tensorflow/tfjs-backend-wasm')) as unknown as WasmBackendModule;
    wasm.setWasmPaths(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm')) + path.sep);
    const cpus = os.cpus();
    const spy = vi.spyOn(os, 'cpus').mockReturnValue([...cpus, ...cpus].slice(0, 4));
    const start = await startWasmBackend(wasm, { threads: 4, logicalCores: 4 });
    spy.mockRestore();
    expect(start).toEqual({ ok: true, simd: true, threads: 2 });
    expect(tf.getBackend()).toBe('wasm');
    expect(tf.env().get('WASM_HAS_MULTITHREAD_SUPPORT')).toBe(true);

    const got = compute();
    for (let i = 0; i < want.length; i++) expect(maxRelErr(got[i]!, want[i]!)).toBeLessThan(1e-5);
  });
});

describe('a process with the threaded build', () => {
  it('exits by itself (the pool threads do not hold the event loop open)', () => {
    // Emscripten refs a worker when it hands it a pthread and XNNPACK's pool threads never end.
    const script = `
      import os from 'node:os';
      import * as tf from '@tensorflow/tfjs';
      import * as wasm from '@tensorflow/tfjs-backend-wasm';
      import { startWasmBackend } from ${JSON.stringify(path.join(here, 'nodeWasmThreads.ts'))};
      wasm.setWasmPaths(${JSON.stringify(path.join(here, '../../node_modules/@tensorflow/tfjs-backend-wasm/dist') + path.sep)});
      const cpus = os.cpus;
      os.cpus = () => [...cpus(), ...cpus()].slice(0, 4);
      const start = await startWasmBackend(wasm, { threads: 4, logicalCores: 4 });
      os.cpus = cpus;
      tf.matMul(tf.ones([64, 64]), tf.ones([64, 64])).dataSync();
      console.log(JSON.stringify(start));
    `;
    const run = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: path.join(here, '../..'), timeout: 60_000, encoding: 'utf8' });
    expect(run.signal).toBeNull();
    expect(run.status).toBe(0);
    expect(JSON.parse(run.stdout.trim().split('\n').pop()!)).toEqual({ ok: true, simd: true, threads: 2 });
  });
});
