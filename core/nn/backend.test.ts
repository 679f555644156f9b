import os from 'node:os';
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { currentBackend, selectBackend } from './backend.js';

describe('selectBackend', () => {
  it('falls through tensorflow and webgpu to a working backend on this GPU-less host, with notes', async () => {
    const t0 = Date.now();
    const info = await selectBackend('auto');
    expect(Date.now() - t0).toBeLessThan(20_000);
    // No tfjs-node here, and Dawn finds no adapter without Vulkan: wasm is the first that loads.
    expect(['wasm', 'webgpu', 'tensorflow']).toContain(info.name);
    expect(tf.getBackend()).toBe(info.name);
    expect(info.available).toContain('cpu');
    expect(info.available[0]).toBe(info.name);
    if (info.name === 'wasm') {
      expect(info.notes.some((n) => n.startsWith('tensorflow:'))).toBe(true);
      expect(info.notes.some((n) => n.startsWith('webgpu:'))).toBe(true);
      // SIMD, and threads where tfjs grants more than one (half the logical cores: not on 2 cores).
      expect(info.device).toMatch(/^WebAssembly \(SIMD, \d+ threads?\)$/);
      if (os.cpus().length < 4) {
        expect(info.device).toBe('WebAssembly (SIMD, 1 thread)');
        expect(info.notes).toContain(`wasm: 1 thread: tfjs-backend-wasm uses at most half the logical cores (${os.cpus().length} here)`);
      }
    }
    // Idempotent: the same choice returns the cached result.
    expect(await selectBackend('auto')).toBe(info);
    expect(currentBackend()).toBe(info);
    expect(tf.tensor1d([1, 2]).square().arraySync()).toEqual([1, 4]);
  });

  it('switches when a different backend is asked for', async () => {
    const cpu = await selectBackend('cpu');
    expect(cpu.name).toBe('cpu');
    expect(tf.getBackend()).toBe('cpu');
    expect(cpu.device).toMatch(/CPU/);
    expect(await selectBackend('cpu')).toBe(cpu);
  });

  it('throws a clear error when a named backend cannot start', async () => {
    await expect(selectBackend('tensorflow')).rejects.toThrow(/backend "tensorflow" is not available here: tensorflow: native bindings/);
    // Dawn finds no adapter here (no Vulkan): asking for webgpu by name fails fast and says why.
    if (!(await selectBackend('auto')).available.includes('webgpu')) {
      await selectBackend('cpu');
      await expect(selectBackend('webgpu')).rejects.toThrow(/backend "webgpu" is not available here: webgpu:/);
    }
    // A failed request leaves the previous backend active.
    expect(tf.getBackend()).toBe('cpu');
  });
});
