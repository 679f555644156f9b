/**
 * MoELayer on the GPU: the fused route (what `dispatch: 'auto'` picks on WebGPU for an eligible block)
 * against the dense route (what ran before) on the same layer, inputs and weights — output, every report
 * field and the gradients of every variable and of x, with and without a capacity limit. Prints relative
 * errors ‖fused − dense‖ / ‖dense‖; exits 1 on a failure. The cpu twin is MoELayer.test.ts.
 *
 *   node --import tsx bench/checkMoeLayerFused.ts [--backend webgpu]
 */
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../core/nn/backend.js';
import { VariableStore } from '../core/nn/init.js';
import { MoELayer } from '../core/nn/moe/MoELayer.js';
import { createRng } from '../core/space/rng.js';
import { MoEBlock } from '../core/space/SearchSpace.js';
import type { BackendChoice } from '../core/protocol/protocol.js';
import { logGpuErrors } from './logGpuErrors.js';

const TOL = 2e-4;
let failures = 0;

async function relErr(a: tf.Tensor, b: tf.Tensor): Promise<number> {
  const t = tf.tidy(() => tf.div(tf.norm(tf.sub(a.toFloat(), b.toFloat())), tf.maximum(tf.norm(b.toFloat()), 1e-12)));
  const v = (await t.data())[0]!;
  t.dispose();
  return v;
}

async function check(T: number, d: number, h: number, capacityFactor: number | null): Promise<void> {
  const store = new VariableStore();
  const block = MoEBlock.parse({ type: 'moe', experts: 8, expertHidden: [h], activation: 'relu', routing: { mode: 'topk', k: 2 }, capacityFactor, residual: true });
  const layer = new MoELayer('m', block, d, store, createRng(7));
  const x = tf.randomNormal([T, d], 0, 1, 'float32', 11) as tf.Tensor2D;
  const vars = [layer.router, ...layer.experts.flatMap((e) => [e.w1, e.b1, e.w2, e.b2])];
  const run = (dispatch: 'dense' | 'fused') => {
    layer.dispatch = dispatch;
    const { grads } = tf.variableGrads(() => {
      const { y, report } = layer.apply(x, h, { training: true });
      return tf.add(tf.mean(tf.sum(tf.square(y), 1)), report.auxLoss!) as tf.Scalar;
    }, vars);
    const dx = tf.grad((xi: tf.Tensor) => tf.mean(tf.sum(tf.square(layer.apply(xi as tf.Tensor2D, h, { training: true }).y), 1)))(x);
    const { y, report } = layer.apply(x, h, { training: true });
    const r = report;
    return { y, dx, grads: vars.map((v) => grads[v.name]!), fields: [r.load, r.dropped, r.entropy, r.auxLoss, r.meanActive, r.topExpert, r.mask] as tf.Tensor[] };
  };
  const a = run('dense');
  const b = run('fused');
  const names = ['load', 'dropped', 'entropy', 'auxLoss', 'meanActive', 'topExpert', 'mask'];
  const errs: [string, number][] = [['y', await relErr(b.y, a.y)], ['dx', await relErr(b.dx, a.dx)]];
  for (let i = 0; i < names.length; i++) errs.push([names[i]!, await relErr(b.fields[i]!, a.fields[i]!)]);
  let worstGrad = 0;
  for (let i = 0; i < vars.length; i++) worstGrad = Math.max(worstGrad, await relErr(b.grads[i]!, a.grads[i]!));
  errs.push(['grads (worst of router, w1, b1, w2, b2)', worstGrad]);
  const dropped = (await a.fields[1]!.data())[0]!;
  const ok = errs.every(([, e]) => e <= TOL);
  if (!ok) failures++;
  console.log(`${ok ? 'PASS' : 'FAIL'} MoELayer T=${T} d=${d} h=${h} E=8 k=2 cf=${capacityFactor} (dropped ${dropped.toFixed(3)}): ${errs.map(([n, e]) => `${n} ${e.toExponential(1)}`).join('  ')}`);
  store.dispose();
}

const backendArg = process.argv.indexOf('--backend');
const info = await selectBackend((backendArg >= 0 ? process.argv[backendArg + 1] : 'webgpu') as BackendChoice);
logGpuErrors();
console.log(`backend ${info.name}: ${info.device}`);
for (const [T, d, h, cf] of [[256, 64, 128, null], [256, 64, 128, 1.25], [1000, 128, 256, 0.5]] as const) await check(T, d, h, cf);
console.log(failures === 0 ? 'ALL PASS' : `${failures} FAILED`);
process.exit(failures === 0 ? 0 : 1);
