/**
 * nodeWasmThreads.ts fails soft: with tfjs' own delivery of the pool's worker script (a Blob URL, which
 * node:worker_threads refuses) the threaded build cannot start under Node; the single-threaded SIMD
 * build starts instead and the note says why. Its own file: a process starts the wasm backend once.
 */
import os from 'node:os';
import { createRequire } from 'node:module';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it, vi } from 'vitest';
import { startWasmBackend, type WasmBackendModule } from './nodeWasmThreads.js';

describe('startWasmBackend fallback', () => {
  it('falls back to one SIMD thread with the upstream error in the note', async () => {
    const require = createRequire(import.meta.url);
    const wasm = (await import('@tensorflow/tfjs-backend-wasm')) as unknown as WasmBackendModule;
    wasm.setWasmPaths(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm')) + path.sep);
    const cpus = os.cpus();
    const spy = vi.spyOn(os, 'cpus').mockReturnValue([...cpus, ...cpus].slice(0, 4));
    const start = await startWasmBackend(wasm, { threads: 4, logicalCores: 4, nodeWorkers: false });
    spy.mockRestore();
    expect(start.ok).toBe(true);
    expect(start.simd).toBe(true);
    expect(start.threads).toBe(1);
    expect(start.note).toMatch(/^wasm: 1 thread: the threaded build did not start \(failed to start: TypeError.*: The worker script or module filename must be .*blob:nodedata/);
    expect(tf.getBackend()).toBe('wasm');
    expect(tf.matMul(tf.tensor2d([[1, 2]]), tf.tensor2d([[3], [4]])).arraySync()).toEqual([[11]]);
  });

  it('does not start the threaded build where tfjs would give it one thread', async () => {
    // Already started above; only the decision and its note are checked here.
    const wasm = { setWasmPaths() {}, setThreadsCount: vi.fn(), getThreadsCount: () => 1 } as WasmBackendModule;
    const start = await startWasmBackend(wasm, { threads: 2, logicalCores: 2 });
    expect(start).toMatchObject({ ok: true, threads: 1, note: 'wasm: 1 thread: tfjs-backend-wasm uses at most half the logical cores (2 here)' });
    expect(wasm.setThreadsCount).toHaveBeenCalledWith(1);
  });
});
