/**
 * The router masks on the wasm backend, whose OneHot kernel ignores a float32 dtype and hands back
 * int32 bits (1 reads as 1.4e-45): every mask must still be exact 0/1 floats there.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../backend.js';
import { expertChoiceMaskTensor, topKMaskTensor, topPMaskTensor } from './routers.js';

describe('router masks on wasm', () => {
  beforeAll(async () => {
    await selectBackend('wasm');
  });

  const probs = () => tf.tensor2d([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6], [0.34, 0.33, 0.33]]);

  it('top-k', () => {
    expect(tf.getBackend()).toBe('wasm');
    expect(Array.from(topKMaskTensor(probs(), 2).dataSync())).toEqual([1, 1, 0, 0, 1, 1, 1, 1, 0]);
  });
  it('top-p', () => {
    expect(Array.from(topPMaskTensor(probs(), 0.5, 3).dataSync())).toEqual([1, 0, 0, 0, 0, 1, 1, 1, 0]);
  });
  it('expert choice', () => {
    expect(Array.from(expertChoiceMaskTensor(probs(), 1).dataSync())).toEqual([1, 0, 0, 0, 0, 1, 0, 1, 0]);
  });
});
