/**
 * GPU check of the BatchMatMul override (core/nn/webgpu/matmulOverride.ts) — run on the device machine:
 *
 *   bash .device/env.sh node --import tsx bench/checkMatmulKernel.ts --dump /tmp/mm
 *   python3 bench/check_matmul_torch.py /tmp/mm
 *
 * Each case runs tf.matMul with the override and with tfjs' own kernel (‖fast − tfjs‖/‖tfjs‖) and checks
 * that the override took (or declined) the product as fastMatmulPlan says; --dump writes inputs and the
 * override's output for check_matmul_torch.py (PyTorch float64, independent).
 */
import fs from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../core/nn/backend.js';
import { fastMatmul, fastMatmulStats, installFastMatmul } from '../core/nn/webgpu/matmulOverride.js';
import { logGpuErrors } from './logGpuErrors.js';

const CASES: { a: number[]; b: number[]; ta: boolean; tb: boolean; fast: boolean }[] = [
  { a: [4096, 4096], b: [4096, 4096], ta: false, tb: false, fast: true },
  { a: [2048, 2048], b: [2048, 1024], ta: true, tb: false, fast: true },
  { a: [8, 512, 256], b: [8, 256, 512], ta: false, tb: false, fast: true },
  { a: [3, 1000, 512], b: [512, 260], ta: false, tb: false, fast: true },
  { a: [1024, 1024], b: [512, 1024], ta: false, tb: true, fast: false },
  { a: [256, 784], b: [784, 128], ta: false, tb: false, fast: false },
];

async function main(): Promise<void> {
  const at = process.argv.indexOf('--dump');
  const dump = at >= 0 ? process.argv[at + 1] : undefined;
  const info = await selectBackend('webgpu');
  logGpuErrors();
  installFastMatmul();
  console.log(`backend ${info.name}: ${info.device}`);
  if (dump) fs.mkdirSync(dump, { recursive: true });
  const manifest: unknown[] = [];
  let fails = 0;
  for (const [i, c] of CASES.entries()) {
    const a = tf.randomNormal(c.a, 0, 1, 'float32', 50 + i);
    const b = tf.randomNormal(c.b, 0, 1, 'float32', 60 + i);
    const before = fastMatmulStats.fast;
    fastMatmul.enabled = true;
    const y = tf.matMul(a, b, c.ta, c.tb);
    const took = fastMatmulStats.fast > before;
    fastMatmul.enabled = false;
    const ref = tf.matMul(a, b, c.ta, c.tb);
    fastMatmul.enabled = true;
    const r = tf.tidy(() => tf.div(tf.norm(tf.sub(y, ref)), tf.norm(ref)));
    const err = (await r.data())[0]!;
    const ok = err < 2e-5 && took === c.fast && y.shape.join() === ref.shape.join();
    if (!ok) fails++;
    console.log(`${ok ? 'PASS' : 'FAIL'} matMul ${c.a.join('×')}${c.ta ? 'ᵀ' : ''} · ${c.b.join('×')}${c.tb ? 'ᵀ' : ''}: ${took ? 'fast kernel' : 'tfjs kernel'}, shape [${y.shape}], vs tfjs ${err.toExponential(1)}`);
    if (dump) {
      for (const [name, t] of [['a', a], ['b', b], ['y', y]] as const) fs.writeFileSync(path.join(dump, `case${i}_${name}.f32`), Buffer.from(((await t.data()) as Float32Array).buffer));
      manifest.push({ prefix: `case${i}_`, a: c.a, b: c.b, y: y.shape, ta: c.ta, tb: c.tb });
    }
    tf.dispose([a, b, y, ref, r]);
  }
  if (dump) fs.writeFileSync(path.join(dump, 'manifest.json'), JSON.stringify(manifest));
  console.log(fails === 0 ? 'ALL PASS' : `${fails} FAIL`);
  if (fails) process.exitCode = 1;
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
