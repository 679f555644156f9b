/** Every compression method, by name: the one place a method is registered (CLI choices, protocol enum and panel read it). */
import type { CompressionMethod, CompressMethodName } from './CompressionMethod.js';
import { compressedExperts } from './compressedExperts.js';
import { d2moe } from './d2moePass.js';
import { eaquant } from './eaquantPass.js';
import { mcSmoe } from './mcSmoePass.js';
import { expertQuantization } from './quantizePass.js';
import { stun } from './stunPass.js';
import { slimMoe } from './slimMoePass.js';
import { subMoe } from './subMoePass.js';

export const compressionMethods: Record<CompressMethodName, CompressionMethod> = {
  quantize: expertQuantization,
  'mc-smoe': mcSmoe,
  stun,
  'sub-moe': subMoe,
  d2moe,
  eaquant,
  'compressed-experts': compressedExperts,
  slimmoe: slimMoe,
};
