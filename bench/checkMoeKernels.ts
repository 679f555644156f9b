/**
 * Checks every fused MoE kernel against the plain tfjs path on the GPU, on fresh random inputs:
 * routing (experts, slots, counts), the grouped matmul (A·B and Aᵀ·B, row limits, epilogues), and the
 * whole MoE FFN forward and every gradient (x, routerW, w1, b1, w2, b2), with and without capacity drops,
 * gate normalisation and both priorities. Prints relative errors ‖fused − ref‖ / ‖ref‖; exits 1 on a failure.
 *
 *   node --import tsx bench/checkMoeKernels.ts [--backend webgpu]
 */
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../core/nn/backend.js';
import { groupedMatmul, moeFfnFused } from '../core/nn/webgpu/moeFfnFused.js';
import { expertCapacity, moeFfnReference, routeTopKReference, type MoeFfnOptions } from '../core/nn/webgpu/moeFfnReference.js';
import { matmulTuning, MOE_KERNELS, registerMoeKernels, routeLayout, type RoutePriority } from '../core/nn/webgpu/moeKernels.js';
import type { BackendChoice } from '../core/protocol/protocol.js';
import { logGpuErrors } from './logGpuErrors.js';

const TOL = 2e-4;

/** tf.tidy for async bodies: disposes every tensor the body created and did not dispose itself. */
async function scope(body: () => Promise<void>): Promise<void> {
  tf.engine().startScope();
  try {
    await body();
  } finally {
    tf.engine().endScope();
  }
}
let failures = 0;

/** Reads a scalar (the webgpu backend in Node has no synchronous read-back). */
async function scalar(f: () => tf.Tensor): Promise<number> {
  const t = tf.tidy(f);
  const v = (await t.data())[0]!;
  t.dispose();
  return v;
}

async function relErr(a: tf.Tensor, b: tf.Tensor): Promise<number> {
  const num = await scalar(() => tf.norm(tf.sub(a.toFloat(), b.toFloat())));
  const den = await scalar(() => tf.norm(b.toFloat()));
  const finite = await scalar(() => tf.all(tf.isFinite(a.toFloat())));
  if (!finite) return Number.POSITIVE_INFINITY;
  return den === 0 ? num : num / den;
}

function report(name: string, err: number, tol = TOL): void {
  const ok = err <= tol;
  if (!ok) failures++;
  console.log(`${ok ? 'PASS' : 'FAIL'} ${name.padEnd(58)} rel err ${err.toExponential(2)}`);
}

async function checkRoute(T: number, E: number, k: number, C: number, priority: RoutePriority, seed: number): Promise<void> {
  await scope(async () => {
    const probs = tf.softmax(tf.randomNormal([T, E], 0, 2, 'float32', seed)) as tf.Tensor2D;
    const route = tf.engine().runKernel(MOE_KERNELS.route, { probs }, { k, capacity: C, priority } as unknown as tf.NamedAttrMap) as tf.Tensor;
    const lay = routeLayout(T, k, E, C);
    const ref = routeTopKReference(probs, k, C, priority);
    const expert = route.slice(lay.expertOf, T * k).reshape([T, k]);
    const slot = route.slice(lay.slotOf, T * k).reshape([T, k]);
    const refSlot = tf.where(tf.greater(ref.keep, 0), tf.add(tf.mul(ref.expertIndex, tf.scalar(C, 'int32')), ref.position), tf.fill([T, k], -1, 'int32'));
    const counts = route.slice(lay.count, E);
    const refCounts = tf.minimum(tf.sum(tf.oneHot(ref.expertIndex.reshape([T * k]), E), 0), C);
    // Slot → assignment must invert assignment → slot.
    const assign = route.slice(lay.assignmentOf, E * C);
    const slotArr = await slot.data();
    const assignArr = await assign.data();
    let inverseBad = 0;
    for (let a = 0; a < T * k; a++) if (slotArr[a]! >= 0 && assignArr[slotArr[a]!] !== a) inverseBad++;
    for (let s = 0; s < E * C; s++) if (assignArr[s]! >= 0 && slotArr[assignArr[s]!] !== s) inverseBad++;
    const tag = `route T=${T} E=${E} k=${k} C=${C} ${priority}`;
    report(`${tag}: experts`, await scalar(() => tf.sum(tf.notEqual(expert, ref.expertIndex))), 0);
    report(`${tag}: slots`, await scalar(() => tf.sum(tf.notEqual(slot, refSlot))), 0);
    report(`${tag}: counts`, await scalar(() => tf.sum(tf.notEqual(counts, refCounts))), 0);
    report(`${tag}: slot↔assignment`, inverseBad, 0);
  });
}

async function checkMatmul(seed: number): Promise<void> {
  await scope(async () => {
    const E = 3;
    const C = 200;
    const K = 72;
    const N = 136;
    const counts = [200, 77, 0];
    const route = tf.tensor1d(counts, 'int32');
    const a = tf.randomNormal([E, C, K], 0, 1, 'float32', seed);
    const b = tf.randomNormal([E, K, N], 0, 1, 'float32', seed + 1);
    const bias = tf.randomNormal([E, N], 0, 1, 'float32', seed + 2);
    const rowMask = tf.tensor3d(
      counts.flatMap((c) => Array.from({ length: C }, (_, i) => (i < c ? 1 : 0))),
      [E, C, 1],
    );
    // nn with row limits, bias and relu: compare the kept rows only.
    const out = groupedMatmul('nn', a, b, route, { batches: E, M: C, N, K, countOff: 0 }, { bias, relu: true });
    const ref = tf.relu(tf.add(tf.matMul(a, b), bias.expandDims(1)));
    // Rows past count in skipped tiles are never written (they may hold NaN): select, don't multiply.
    const kept = (t: tf.Tensor) => tf.where(tf.greater(rowMask, 0).tile([1, 1, N]), t, tf.zerosLike(t));
    report('grouped matmul nn + bias + relu (kept rows)', await relErr(kept(out), kept(ref)));
    // nn with a relu-backward mask.
    const mask = tf.randomNormal([E, C, N], 0, 1, 'float32', seed + 3);
    const outM = groupedMatmul('nn', a, b, route, { batches: E, M: C, N, K, countOff: 0 }, { mask });
    const refM = tf.mul(tf.matMul(a, b), tf.greater(mask, 0).toFloat());
    report('grouped matmul nn × (mask > 0) (kept rows)', await relErr(kept(outM), kept(refM)));
    // tn: reduction over the kept rows only (rows past count hold garbage that must be ignored).
    const garbage = tf.add(tf.mul(a, rowMask), tf.mul(tf.sub(1, rowMask), 1e30));
    const b2 = tf.randomNormal([E, C, N], 0, 1, 'float32', seed + 4);
    const outT = groupedMatmul('tn', garbage, b2, route, { batches: E, M: K, N, K: C, countOff: 0 });
    const refT = tf.matMul(tf.mul(a, rowMask), b2, true, false);
    report('grouped matmul tn over kept rows', await relErr(outT, refT));
    // Plain square product, no limits.
    const sq = tf.randomNormal([1, 260, 260], 0, 1, 'float32', seed + 5);
    const one = tf.tensor1d([0], 'int32');
    report('grouped matmul nn 260³ (no counts)', await relErr(groupedMatmul('nn', sq, sq, one, { batches: 1, M: 260, N: 260, K: 260, countOff: -1 }), tf.matMul(sq, sq)));
    report('grouped matmul tn 260³ (no counts)', await relErr(groupedMatmul('tn', sq, sq, one, { batches: 1, M: 260, N: 260, K: 260, countOff: -1 }), tf.matMul(sq, sq, true, false)));
  });
}

async function checkMoe(T: number, d: number, h: number, E: number, k: number, factor: number, extra: Partial<MoeFfnOptions>, seed: number): Promise<void> {
  await scope(async () => {
    const rnd = (shape: number[], scale: number, s: number) => tf.randomNormal(shape, 0, scale, 'float32', seed + s);
    const x = rnd([T, d], 1, 1) as tf.Tensor2D;
    const target = rnd([T, d], 1, 2);
    const routerW = rnd([d, E], 1 / Math.sqrt(d), 3) as tf.Tensor2D;
    const w1 = rnd([E, d, h], 1 / Math.sqrt(d), 4) as tf.Tensor3D;
    const b1 = rnd([E, h], 0.1, 5) as tf.Tensor2D;
    const w2 = rnd([E, h, d], 1 / Math.sqrt(h), 6) as tf.Tensor3D;
    const b2 = rnd([E, d], 0.1, 7) as tf.Tensor2D;
    const opts: MoeFfnOptions = { k, capacity: expertCapacity(T, k, E, factor), ...extra };
    const run = (fn: typeof moeFfnReference) => {
      let out: { y: tf.Tensor; keep: tf.Tensor; expertIndex: tf.Tensor } | null = null;
      const g = tf.grads((xx: tf.Tensor, rw: tf.Tensor, a1: tf.Tensor, c1: tf.Tensor, a2: tf.Tensor, c2: tf.Tensor) => {
        const r = fn(xx as tf.Tensor2D, rw as tf.Tensor2D, a1 as tf.Tensor3D, c1 as tf.Tensor2D, a2 as tf.Tensor3D, c2 as tf.Tensor2D, opts);
        out = { y: tf.keep(r.y), keep: tf.keep(r.keep), expertIndex: tf.keep(r.expertIndex) };
        return tf.mul(0.5, tf.sum(tf.square(tf.sub(r.y, target))));
      })([x, routerW, w1, b1, w2, b2]);
      return { ...out!, g };
    };
    const ref = run(moeFfnReference);
    const fused = run(moeFfnFused);
    const tag = `moe T=${T} d=${d} h=${h} E=${E} k=${k} cf=${factor}${extra.normalize ? ' norm' : ''}${extra.priority === 'token' ? ' token' : ''}`;
    report(`${tag}: keep, expertIndex`, await scalar(() => tf.add(tf.sum(tf.notEqual(fused.keep, ref.keep)), tf.sum(tf.notEqual(fused.expertIndex, ref.expertIndex)))), 0);
    report(`${tag}: y`, await relErr(fused.y, ref.y));
    const names = ['dx', 'dRouterW', 'dW1', 'db1', 'dW2', 'db2'];
    for (let i = 0; i < names.length; i++) report(`${tag}: ${names[i]}`, await relErr(fused.g[i]!, ref.g[i]!));
  });
}

async function main(): Promise<void> {
  const i = process.argv.indexOf('--backend');
  const choice = (i >= 0 ? process.argv[i + 1] : 'webgpu') as BackendChoice;
  const info = await selectBackend(choice);
  logGpuErrors();
  console.log(`backend ${info.name}: ${info.device}`);
  if (info.name !== 'webgpu') throw new Error('the fused kernels need the webgpu backend');
  registerMoeKernels();
  await checkRoute(1000, 8, 2, expertCapacity(1000, 2, 8, 1.25), 'rank', 11);
  await checkRoute(1000, 8, 2, expertCapacity(1000, 2, 8, 0.5), 'rank', 12);
  await checkRoute(777, 5, 3, expertCapacity(777, 3, 5, 0.6), 'token', 13);
  await checkRoute(8192, 8, 2, expertCapacity(8192, 2, 8, 1.25), 'rank', 14);
  const defaults = { ...matmulTuning };
  for (const c of [
    { bk: 8, unroll: false, stageAT: false, stages: 1 },
    { bk: 16, unroll: true, stageAT: false, stages: 1 },
    { bk: 16, unroll: true, stageAT: true, stages: 1 },
    { bk: 32, unroll: true, stageAT: true, stages: 1 },
    { bk: 16, unroll: true, stageAT: true, stages: 2 },
    { bk: 8, unroll: false, stageAT: false, stages: 2 },
  ]) {
    Object.assign(matmulTuning, c);
    console.log(`matmul codegen ${JSON.stringify(c)}`);
    await checkMatmul(21 + c.bk + c.stages);
  }
  Object.assign(matmulTuning, defaults);
  await checkMatmul(21);
  await checkMoe(256, 64, 128, 4, 2, 1.25, {}, 31);
  await checkMoe(300, 32, 72, 5, 2, 0.5, { normalize: true }, 32);
  await checkMoe(200, 16, 40, 3, 1, 0.7, { priority: 'token' }, 33);
  await checkMoe(2048, 128, 512, 8, 2, 1.25, {}, 34);
  await checkMoe(8192, 512, 2048, 8, 2, 1.25, {}, 35);
  console.log(failures === 0 ? 'ALL PASS' : `${failures} FAILED`);
  process.exit(failures === 0 ? 0 : 1);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
