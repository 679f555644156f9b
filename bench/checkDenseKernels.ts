/**
 * GPU check of the fused dense block (core/nn/webgpu/denseFused.ts) — run on the device machine:
 *
 *   bash .device/env.sh node --import tsx bench/checkDenseKernels.ts --dump /tmp/dense
 *   python3 bench/check_dense_torch.py /tmp/dense
 *
 * For each case it computes y = act(x·W[0:d, 0:w] + b[0:w]) and the gradients of ⟨dy, y⟩ for x, the whole
 * kernel W and the whole bias b with the fused kernels, and with the plain tfjs ops on the same backend;
 * prints ‖fused − plain‖/‖plain‖, and with --dump writes inputs and fused outputs (raw little-endian f32 plus
 * manifest.json) for check_dense_torch.py, which recomputes them in PyTorch (float64) independently.
 * Last, one supernet training step's loss and gradients with the fused path on and off (fashion-mlp-supernet,
 * largest subnet).
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../core/nn/backend.js';
import { activate } from '../core/nn/activations.js';
import { denseFused, denseFusion } from '../core/nn/webgpu/denseFused.js';
import type { GradActivation } from '../core/nn/webgpu/denseKernels.js';
import { crossEntropyFused, crossEntropyFusion } from '../core/nn/webgpu/crossEntropyFused.js';
import { conv2dSameWebgpu, convFilterGradFast } from '../core/nn/webgpu/convFilterGrad.js';
import { pathUpdateFusion } from '../core/nn/webgpu/pathUpdateKernels.js';
import { batchNormTrainFused, bnFusion } from '../core/nn/webgpu/batchNormFused.js';
import { PathOptimizer, type OptimizerKind } from '../core/train/PathOptimizer.js';
import { logGpuErrors } from './logGpuErrors.js';

const TOL = 2e-5;

interface Case {
  T: number;
  d: number;
  w: number;
  dMax: number;
  wMax: number;
  act: GradActivation;
}

const CASES: Case[] = [
  { T: 256, d: 784, w: 128, dMax: 784, wMax: 128, act: 'relu' },
  { T: 256, d: 96, w: 64, dMax: 128, wMax: 128, act: 'relu' },
  { T: 2048, d: 128, w: 128, dMax: 128, wMax: 128, act: 'relu' },
  { T: 70, d: 37, w: 45, dMax: 50, wMax: 66, act: 'tanh' },
  { T: 300, d: 64, w: 10, dMax: 64, wMax: 10, act: 'linear' },
  { T: 129, d: 33, w: 17, dMax: 40, wMax: 20, act: 'sigmoid' },
  { T: 4096, d: 1024, w: 1024, dMax: 1024, wMax: 1024, act: 'relu' },
  { T: 256, d: 64, w: 64, dMax: 64, wMax: 64, act: 'gelu' },
  { T: 2048, d: 32, w: 48, dMax: 64, wMax: 64, act: 'gelu' },
];

/** The bytes of a typed array (only its own view: tfjs may hand back a view into a larger buffer). */
const bytes = (a: ArrayLike<number> & ArrayBufferView) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

const rel = async (a: tf.Tensor, b: tf.Tensor) => {
  const r = tf.tidy(() => tf.div(tf.norm(tf.sub(a, b)), tf.maximum(tf.norm(b), 1e-30)));
  const v = (await r.data())[0]!;
  r.dispose();
  return v;
};

async function main(): Promise<void> {
  const dumpAt = process.argv.indexOf('--dump');
  const dump = dumpAt >= 0 ? process.argv[dumpAt + 1] : undefined;
  const info = await selectBackend('webgpu');
  logGpuErrors();
  console.log(`backend ${info.name}: ${info.device}`);
  if (dump) fs.mkdirSync(dump, { recursive: true });
  const manifest: unknown[] = [];
  let fails = 0;
  for (const [i, c] of CASES.entries()) {
    const x = tf.randomNormal([c.T, c.d], 0, 1, 'float32', 10 + i);
    const W = tf.randomNormal([c.dMax, c.wMax], 0, 1 / Math.sqrt(c.d), 'float32', 20 + i);
    const b = tf.randomNormal([c.wMax], 0, 0.5, 'float32', 30 + i);
    const dy = tf.randomNormal([c.T, c.w], 0, 1, 'float32', 40 + i);
    const fused = (xi: tf.Tensor, wi: tf.Tensor, bi: tf.Tensor) => denseFused(xi as tf.Tensor2D, wi as tf.Tensor2D, bi as tf.Tensor1D, c.w, c.act);
    const plain = (xi: tf.Tensor, wi: tf.Tensor, bi: tf.Tensor) =>
      activate(tf.add(tf.matMul(xi as tf.Tensor2D, (wi as tf.Tensor2D).slice([0, 0], [c.d, c.w])), (bi as tf.Tensor1D).slice(0, c.w)), c.act);
    const yF = fused(x, W, b);
    const yP = plain(x, W, b);
    const gF = tf.grads(fused)([x, W, b], dy);
    const gP = tf.grads(plain)([x, W, b], dy);
    const errs = [await rel(yF, yP), ...(await Promise.all(gF.map((g, j) => rel(g, gP[j]!))))];
    const ok = errs.every((e) => e < TOL);
    if (!ok) fails++;
    const tag = `T=${c.T} d=${c.d}/${c.dMax} w=${c.w}/${c.wMax} ${c.act}`;
    console.log(`${ok ? 'PASS' : 'FAIL'} fused vs plain tfjs ${tag}: y ${errs[0]!.toExponential(1)}  dx ${errs[1]!.toExponential(1)}  dW ${errs[2]!.toExponential(1)}  db ${errs[3]!.toExponential(1)}`);
    if (dump) {
      const files: Record<string, number[]> = {};
      for (const [name, t] of [['x', x], ['W', W], ['b', b], ['dy', dy], ['y', yF], ['dx', gF[0]!], ['dW', gF[1]!], ['db', gF[2]!]] as const) {
        const file = `case${i}_${name}.f32`;
        fs.writeFileSync(path.join(dump, file), bytes(await t.data()));
        files[name] = t.shape;
      }
      manifest.push({ ...c, prefix: `case${i}_`, shapes: files });
    }
    tf.dispose([x, W, b, dy, yF, yP, ...gF, ...gP]);
  }
  // The fused cross-entropy against the plain one (core/train/evaluate.ts crossEntropy with fusion off).
  const { crossEntropy } = await import('../core/train/evaluate.js');
  const ceCases: [number, number][] = [[256, 10], [2048, 4], [300, 1000]];
  const ceManifest: unknown[] = [];
  for (const [i, [N, C]] of ceCases.entries()) {
    const z = tf.randomNormal([N, C], 0, 3, 'float32', 70 + i);
    const labels = tf.randomUniform([N], 0, C, 'int32', 80 + i) as tf.Tensor1D;
    const seed = tf.scalar(1.7);
    const fusedCe = tf.valueAndGrad((zi: tf.Tensor) => crossEntropyFused(zi as tf.Tensor2D, labels));
    crossEntropyFusion.enabled = false;
    const plainCe = tf.valueAndGrad((zi: tf.Tensor) => crossEntropy(zi as tf.Tensor2D, labels));
    const p = plainCe(z, seed);
    crossEntropyFusion.enabled = true;
    const f = fusedCe(z, seed);
    const [eL, eG] = [await rel(f.value, p.value), await rel(f.grad, p.grad)];
    const ok = eL < TOL && eG < TOL;
    if (!ok) fails++;
    console.log(`${ok ? 'PASS' : 'FAIL'} fused cross-entropy vs plain tfjs N=${N} C=${C}: loss ${eL.toExponential(1)}  dlogits ${eG.toExponential(1)} (seed gradient 1.7)`);
    if (dump) {
      for (const [name, t] of [['z', z], ['labels', labels], ['loss', f.value], ['dz', f.grad]] as const) {
        fs.writeFileSync(path.join(dump, `ce${i}_${name}.f32`), bytes(await t.data()));
      }
      ceManifest.push({ prefix: `ce${i}_`, N, C, seed: 1.7 });
    }
    tf.dispose([z, labels, seed, p.value, p.grad, f.value, f.grad]);
  }
  // The conv with the im2col filter gradient against tf.conv2d's own gradients (same backend).
  const convCases: [[number, number, number, number], number, 1 | 2, number][] = [[[256, 28, 28, 1], 5, 2, 16], [[256, 14, 14, 16], 5, 2, 32], [[64, 7, 7, 32], 3, 1, 32]];
  const convManifest: unknown[] = [];
  for (const [i, [shape, k, stride, cout]] of convCases.entries()) {
    const x = tf.randomNormal(shape, 0, 1, 'float32', 90 + i) as tf.Tensor4D;
    const kern = tf.randomNormal([k, k, shape[3]!, cout], 0, 0.2, 'float32', 100 + i) as tf.Tensor4D;
    const yP = tf.conv2d(x, kern, stride, 'same');
    const dy = tf.randomNormal(yP.shape, 0, 1, 'float32', 110 + i);
    const gF = tf.grads((a: tf.Tensor, b: tf.Tensor) => conv2dSameWebgpu(a as tf.Tensor4D, b as tf.Tensor4D, stride))([x, kern], dy);
    const gP = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, stride, 'same'))([x, kern], dy);
    const yF = conv2dSameWebgpu(x, kern, stride);
    const errs = [await rel(yF, yP), await rel(gF[0]!, gP[0]!), await rel(gF[1]!, gP[1]!)];
    const ok = errs.every((e) => e < TOL);
    if (!ok) fails++;
    console.log(`${ok ? 'PASS' : 'FAIL'} conv (im2col filter gradient) vs tf.conv2d x [${shape}] ${k}×${k} s${stride} → ${cout}: y ${errs[0]!.toExponential(1)}  dx ${errs[1]!.toExponential(1)}  dK ${errs[2]!.toExponential(1)}`);
    if (dump) {
      for (const [name, t] of [['x', x], ['k', kern], ['dy', dy], ['y', yF], ['dx', gF[0]!], ['dk', gF[1]!]] as const) {
        fs.writeFileSync(path.join(dump, `conv${i}_${name}.f32`), bytes(await t.data()));
      }
      convManifest.push({ prefix: `conv${i}_`, x: shape, k: [k, k, shape[3], cout], y: yP.shape, stride });
    }
    tf.dispose([x, kern, yP, dy, yF, ...gF, ...gP]);
  }
  // Training BatchNorm: fused vs Supernet.applyConv's primitive-op form (γ, β longer than the channels).
  const bnManifest: unknown[] = [];
  for (const [i, [shape, cMax]] of ([[[256, 14, 14, 16], 32], [[2048, 7, 7, 32], 32], [[64, 28, 28, 8], 16]] as [[number, number, number, number], number][]).entries()) {
    const C = shape[3];
    const y = tf.add(tf.mul(tf.randomNormal(shape, 0, 1, 'float32', 150 + i), 1.5), 0.3) as tf.Tensor4D;
    const gamma = tf.randomNormal([cMax], 1, 0.3, 'float32', 160 + i) as tf.Tensor1D;
    const beta = tf.randomNormal([cMax], 0, 0.3, 'float32', 170 + i) as tf.Tensor1D;
    const dz = tf.randomNormal(shape, 0, 1, 'float32', 180 + i);
    const eps = 1e-3;
    const plain = (yi: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
      const mean = tf.mean(yi, [0, 1, 2]);
      const centred = tf.sub(yi, mean);
      const variance = tf.mean(tf.square(centred), [0, 1, 2]);
      return tf.add(tf.mul(tf.mul(centred, tf.rsqrt(tf.add(variance, eps))), g.slice(0, C)), b.slice(0, C));
    };
    const fusedBn = (yi: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => batchNormTrainFused(yi as tf.Tensor4D, g as tf.Tensor1D, b as tf.Tensor1D, eps).y;
    const gP = tf.grads(plain)([y, gamma, beta], dz);
    const gF = tf.grads(fusedBn)([y, gamma, beta], dz);
    const outP = plain(y, gamma, beta);
    const fwd = batchNormTrainFused(y, gamma, beta, eps);
    const statsRef = tf.stack([tf.mean(y, [0, 1, 2]), tf.mean(tf.square(tf.sub(y, tf.mean(y, [0, 1, 2]))), [0, 1, 2])]);
    const errs = [await rel(fwd.y, outP), await rel(fwd.stats, statsRef), ...(await Promise.all(gF.map((g, j) => rel(g, gP[j]!))))];
    const ok = errs.every((e) => e < TOL);
    if (!ok) fails++;
    console.log(`${ok ? 'PASS' : 'FAIL'} fused BatchNorm vs primitive ops y [${shape}] γ/β [${cMax}]: out ${errs[0]!.toExponential(1)}  stats ${errs[1]!.toExponential(1)}  dy ${errs[2]!.toExponential(1)}  dγ ${errs[3]!.toExponential(1)}  dβ ${errs[4]!.toExponential(1)}`);
    if (dump) {
      for (const [name, t] of [['y', y], ['g', gamma], ['b', beta], ['dz', dz], ['out', fwd.y], ['stats', fwd.stats], ['dy', gF[0]!], ['dg', gF[1]!], ['db', gF[2]!]] as const) {
        fs.writeFileSync(path.join(dump, `bn${i}_${name}.f32`), bytes(await t.data()));
      }
      bnManifest.push({ prefix: `bn${i}_`, shape, cMax, eps });
    }
    tf.dispose([y, gamma, beta, dz, outP, fwd.y, fwd.stats, statsRef, ...gF, ...gP]);
  }

  // PathOptimizer's lazy update, fused kernels vs its tfjs ops: three steps on a [300, 70] variable whose
  // gradient is 0 on a third of the elements (and on a different set each step), weights and slots.
  const optManifest: unknown[] = [];
  for (const kind of ['adam', 'sgd', 'momentum'] as OptimizerKind[]) {
    const results: Float32Array[][] = [];
    const grads: Float32Array[] = [];
    for (const fused of [true, false]) {
      pathUpdateFusion.enabled = fused;
      const v = tf.variable(tf.randomNormal([300, 70], 0, 1, 'float32', 120), true, `opt.${kind}.${fused}`);
      const opt = new PathOptimizer(kind, 0.01, new Map([['w', v]]));
      for (let step = 0; step < 3; step++) {
        const g = tf.tidy(() => tf.mul(tf.randomNormal([300, 70], 0, 1, 'float32', 130 + step), tf.cast(tf.greater(tf.randomUniform([300, 70], 0, 1, 'float32', 140 + step), 1 / 3), 'float32')));
        if (fused) grads.push((await g.data()) as Float32Array);
        opt.apply(new Map([[v, g]]));
        g.dispose();
      }
      await opt.prefetchSlots();
      const state = opt.getState();
      results.push([(await v.data()) as Float32Array, ...state.slots.map((a) => a.data as Float32Array)]);
      v.dispose();
      opt.dispose();
    }
    pathUpdateFusion.enabled = true;
    const errs = results[0]!.map((a, i) => {
      const b = results[1]![i]!;
      let num = 0;
      let den = 0;
      for (let j = 0; j < a.length; j++) {
        num += (a[j]! - b[j]!) ** 2;
        den += b[j]! ** 2;
      }
      return Math.sqrt(num / Math.max(den, 1e-30));
    });
    const ok = errs.every((e) => e < TOL);
    if (!ok) fails++;
    console.log(`${ok ? 'PASS' : 'FAIL'} PathOptimizer ${kind} (lazy, 3 steps), fused vs tfjs ops: weight ${errs[0]!.toExponential(1)}${errs.slice(1).map((e, i) => `  slot${i} ${e.toExponential(1)}`).join('')}`);
    if (dump) {
      const init = tf.randomNormal([300, 70], 0, 1, 'float32', 120);
      const files: [string, Float32Array][] = [['w0', (await init.data()) as Float32Array], ...grads.map((g, i) => [`g${i}`, g] as [string, Float32Array]), ['w', results[0]![0]!]];
      init.dispose();
      for (const [name, a] of files) fs.writeFileSync(path.join(dump, `opt_${kind}_${name}.f32`), Buffer.from(a.buffer, a.byteOffset, a.byteLength));
      optManifest.push({ kind, prefix: `opt_${kind}_`, shape: [300, 70], steps: 3, lr: 0.01 });
    }
  }
  if (dump) fs.writeFileSync(path.join(dump, 'manifest.json'), JSON.stringify({ dense: manifest, ce: ceManifest, conv: convManifest, opt: optManifest, bn: bnManifest }));

  // One supernet step, every fusion on vs off: same loss, same gradients.
  const { SearchSpace, inputSampleShape } = await import('../core/space/SearchSpace.js');
  const { largestArch } = await import('../core/space/archCodec.js');
  const { buildSupernet } = await import('../core/nn/Supernet.js');
  const here = path.dirname(fileURLToPath(import.meta.url));
  for (const name of ['fashion-mlp-supernet', 'moe-relu-topk', 'spirals-moe', 'fashion-conv-supernet']) {
    const space = SearchSpace.parse(JSON.parse(fs.readFileSync(path.join(here, '..', 'assets', 'spaces', `${name}.json`), 'utf8')));
    const net = buildSupernet(space, { seed: 1 });
    const arch = largestArch(space);
    const inShape = [256, ...inputSampleShape(space.input)];
    const x = tf.randomNormal(inShape, 0, 1, 'float32', 3);
    const labels = tf.randomUniform([256], 0, space.numClasses, 'int32', 4) as tf.Tensor1D;
    const vars = net.trainableVariables();
    const lossOf = () => {
      const r = net.apply(x, arch, { training: true, progress: 0.5 });
      return tf.add(crossEntropy(r.logits, labels), r.auxLoss) as tf.Scalar;
    };
    const run = (on: boolean) => {
      denseFusion.enabled = on;
      crossEntropyFusion.enabled = on;
      convFilterGradFast.enabled = on;
      bnFusion.enabled = on;
      return tf.variableGrads(lossOf, vars);
    };
    const a = run(true);
    const p = run(false);
    denseFusion.enabled = true;
    crossEntropyFusion.enabled = true;
    convFilterGradFast.enabled = true;
    bnFusion.enabled = true;
    const lossErr = await rel(a.value, p.value);
    let worst = 0;
    let worstName = '';
    for (const v of vars) {
      const e = await rel(a.grads[v.name]!, p.grads[v.name]!);
      if (e > worst) [worst, worstName] = [e, v.name];
    }
    const ok = lossErr < TOL && worst < 1e-4;
    if (!ok) fails++;
    console.log(`${ok ? 'PASS' : 'FAIL'} supernet ${name} step, fused vs plain: loss ${lossErr.toExponential(1)}, worst gradient ${worst.toExponential(1)} (${worstName}), ${vars.length} variables`);
    tf.dispose([x, labels, a.value, p.value, ...Object.values(a.grads), ...Object.values(p.grads)]);
    net.dispose();
  }
  console.log(fails === 0 ? 'ALL PASS' : `${fails} FAIL`);
  if (fails) process.exitCode = 1;
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
