/**
 * Print WebGPU validation errors (a WGSL compile error, a bad binding) as they happen: the tfjs backend
 * does not surface them, and a failed pipeline otherwise shows up only as wrong numbers or a hang.
 */
import * as tf from '@tensorflow/tfjs';

export function logGpuErrors(): void {
  if (tf.getBackend() !== 'webgpu') return;
  const device = (tf.backend() as unknown as { device: { onuncapturederror: ((e: { error: { message: string } }) => void) | null } }).device;
  device.onuncapturederror = (e) => console.error(`WebGPU error: ${e.error.message}`);
}
