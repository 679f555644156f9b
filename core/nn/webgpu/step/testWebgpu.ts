/**
 * For tests: the tfjs WebGPU backend on whatever adapter this machine has. Without a GPU, Chromium's
 * SwiftShader Vulkan driver (Debian's chromium package, which CI installs) serves as one, slowly but
 * exactly enough for kernel checks. Resolves false where neither starts (the tests then skip).
 */
import fs from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../../backend.js';

const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

export async function startTestWebgpu(): Promise<boolean> {
  if (!process.env.VK_ICD_FILENAMES && fs.existsSync(SWIFTSHADER_ICD)) process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
  process.env.XDG_RUNTIME_DIR ??= '/tmp';
  try {
    await selectBackend('webgpu');
    return tf.getBackend() === 'webgpu';
  } catch {
    return false;
  }
}
