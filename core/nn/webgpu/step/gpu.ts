/**
 * The compiled step's view of tfjs' WebGPU backend: its device (the step shares it, so a tfjs variable's
 * buffer is bound straight into the step's kernels) and the GPU buffer behind a variable.
 *
 * The step writes variables in place. tfjs keeps a host copy of a tensor once it has been read
 * (`convertAndCacheOnCPU`), and a variable may share its buffer with another tensor (refCount > 1): both
 * would go stale, so `ownedBuffer` first gives the variable a buffer of its own and `written` drops the
 * host copy after the step has changed it.
 */
/// <reference types="@webgpu/types" />
import * as tf from '@tensorflow/tfjs';

interface TensorDataLike {
  values: unknown;
  refCount: number;
  resource: GPUBuffer | null;
}

export interface WebGpuBackendInternals {
  device: GPUDevice;
  queue: GPUQueue;
  tensorMap: { get(dataId: object): TensorDataLike | undefined };
  uploadToGPU(dataId: object): void;
  submitQueue(): void;
  ensureCommandEncoderReady(): void;
  endComputePassEncoder(): void;
  commandEncoder: GPUCommandEncoder | null;
}

export function webgpuBackend(): WebGpuBackendInternals {
  if (tf.getBackend() !== 'webgpu') throw new Error(`the compiled WebGPU step needs the webgpu backend (active: ${tf.getBackend()})`);
  return tf.backend() as unknown as WebGpuBackendInternals;
}

/** Send tfjs' pending commands, so the step's submission runs after them (one GPU queue, in order). */
export function flushTfjs(): void {
  const b = webgpuBackend();
  if (b.commandEncoder) {
    b.endComputePassEncoder();
    b.submitQueue();
  }
}

/** The GPU buffer of `v`, uploaded if it lives on the host, and not shared with any other tensor. */
export function ownedBuffer(v: tf.Variable): GPUBuffer {
  const b = webgpuBackend();
  let d = b.tensorMap.get(v.dataId);
  if (!d) throw new Error(`variable ${v.name} has no data on the webgpu backend`);
  if (d.refCount > 1) {
    // Shared with another tensor (a variable made from a kept tensor): give it a copy of its own.
    // (assign shares the copy's data: the copy itself is disposed, or the data would stay shared).
    const copy = tf.tidy(() => tf.mul(v, tf.scalar(1)));
    v.assign(copy);
    copy.dispose();
    d = b.tensorMap.get(v.dataId)!;
  }
  if (!d.resource) b.uploadToGPU(v.dataId);
  const buf = b.tensorMap.get(v.dataId)!.resource;
  if (!buf) throw new Error(`variable ${v.name}: tfjs gave it no GPU buffer`);
  return buf;
}

/**
 * The buffer `v` holds now if it is on the GPU and its own (what `ownedBuffer` would return without
 * changing anything), else null: the per-step check that a compiled step's bindings are still current.
 */
export function currentBuffer(v: tf.Variable): GPUBuffer | null {
  const d = webgpuBackend().tensorMap.get(v.dataId);
  return d && d.refCount <= 1 ? d.resource : null;
}

/** The step changed `v` on the GPU: forget tfjs' host copy, if it kept one. */
export function written(v: tf.Variable): void {
  const d = webgpuBackend().tensorMap.get(v.dataId);
  if (d) d.values = null;
}
