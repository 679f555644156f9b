/**
 * For tests of the compiled step: the same training steps twice from the same seed, once as the trainer
 * runs them through tfjs ops (variableGrads of the trainer's loss, PathOptimizer; the reference, on
 * whatever backend is active, the CPU one in tests) and once as a CompiledStep on WebGPU; every variable
 * and optimizer slot afterwards, and the losses.
 */
import * as tf from '@tensorflow/tfjs';
import type { Arch, SearchSpace } from '../space/SearchSpace.js';
import { crossEntropy } from './evaluate.js';
import { tokenCrossEntropy } from './languageModel.js';
import { PathOptimizer, type OptimizerKind } from './PathOptimizer.js';
import { buildSupernet } from '../nn/Supernet.js';
import { CompiledStep } from '../nn/webgpu/step/compiledStep.js';

export interface StepCase {
  space: SearchSpace;
  arch: Arch;
  batch: number;
  /** Per-sample input shape (the dataset's inputShape). */
  inputShape: readonly number[];
  /** Step t's batch: inputs and labels (one per position for a token space, IGNORE_TARGET allowed). */
  data(t: number): { x: Float32Array; y: Int32Array };
  kind: OptimizerKind;
  lr: number;
  seed?: number;
}

export interface StepOutcome {
  losses: number[];
  correct: number[];
  /** Every variable and its slots ("<name>#<i>") after the steps. */
  vars: Map<string, Float32Array>;
  dispatches?: number;
}

async function snapshot(vars: Map<string, tf.Variable>, opt: PathOptimizer): Promise<Map<string, Float32Array>> {
  const out = new Map<string, Float32Array>();
  for (const [n, v] of vars) out.set(n, (await v.data()) as Float32Array);
  for (const [n, v] of vars) for (const [i, s] of opt.slotsOf(v).entries()) out.set(`${n}#${i}`, (await s.data()) as Float32Array);
  return out;
}

/** The trainer's tfjs step (core/train/Trainer.ts, one subnet, no clipping) on the active backend. */
export async function tfjsSteps(s: StepCase, steps: number): Promise<StepOutcome> {
  const net = buildSupernet(s.space, { seed: s.seed ?? 3 });
  const vars = net.namedVariables();
  const opt = new PathOptimizer(s.kind, s.lr, vars);
  const losses: number[] = [];
  const correct: number[] = [];
  for (let t = 0; t < steps; t++) {
    const { x, y } = s.data(t);
    const xs = tf.tensor(x, [s.batch, ...s.inputShape]);
    const ys = tf.tensor1d(y, 'int32');
    // The trainer's numbers: the cross-entropy before the MoE layers' weighted losses, and the correct rows.
    let ce = 0;
    let right = 0;
    const { value, grads } = tf.variableGrads(() => {
      const out = net.apply(xs, s.arch, { training: true });
      const logits = out.logits;
      let loss: tf.Scalar;
      if (net.perToken) {
        const tok = tokenCrossEntropy(logits, ys);
        right = tok.correct.dataSync()[0]!;
        loss = tok.mean;
      } else {
        right = tf.tidy(() => tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), ys), 'float32')).dataSync()[0]!);
        loss = crossEntropy(logits, ys);
      }
      ce = loss.dataSync()[0]!;
      return tf.add(loss, out.auxLoss) as tf.Scalar;
    }, net.trainableVariables());
    losses.push(ce);
    correct.push(right);
    opt.apply(new Map(net.trainableVariables().flatMap((v) => (grads[v.name] ? [[v, grads[v.name]!] as [tf.Variable, tf.Tensor]] : []))));
    tf.dispose([xs, ys, value, ...Object.values(grads)]);
  }
  const out = await snapshot(vars, opt);
  opt.dispose();
  net.dispose();
  return { losses, correct, vars: out };
}

/** The same steps as a CompiledStep (the webgpu backend must be active). */
export async function compiledSteps(s: StepCase, steps: number): Promise<StepOutcome> {
  const net = buildSupernet(s.space, { seed: s.seed ?? 3 });
  const vars = net.namedVariables();
  const opt = new PathOptimizer(s.kind, s.lr, vars);
  const inputFloats = s.inputShape.reduce((a, b) => a * b, 1);
  const step = CompiledStep.build(net, s.arch, s.batch, inputFloats, opt);
  if (typeof step === 'string') {
    opt.dispose();
    net.dispose();
    throw new Error(step);
  }
  const losses: number[] = [];
  const correct: number[] = [];
  for (let t = 0; t < steps; t++) {
    const { x, y } = s.data(t);
    step.setBatch(x, y);
    step.run(opt.stepValues());
    opt.countUpdates(step.updated);
    const st = await step.stats();
    losses.push(st.loss);
    correct.push(st.correct);
  }
  const out = await snapshot(vars, opt);
  const dispatches = step.dispatchCount;
  step.dispose();
  opt.dispose();
  net.dispose();
  return { losses, correct, vars: out, dispatches };
}

/** max |a − b| / max |b| (absolute where b is all zeros). */
export function relErr(a: Float32Array, b: Float32Array): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num = Math.max(num, Math.abs(a[i]! - b[i]!));
    den = Math.max(den, Math.abs(b[i]!));
  }
  return den === 0 ? num : num / den;
}

/** Does `name` hold an attention block's K bias (whose exact gradient is zero)? */
const K_BIAS = /attn\.k\.bias/;

/**
 * Both paths from the same seed (the reference on the CPU backend, the compiled step on WebGPU) and the
 * variables or slots that differ by more than `tol` (relErr). K's bias adds q·b_k to every score of a
 * row, which the softmax ignores: its gradient is 0 in exact arithmetic and rounding noise in both paths.
 * SGD moves it by lr × noise (compared absolutely, ≤ 1e-6); Adam scales the noise up to ±lr a step, so
 * only that bound is checked, and its slots not at all.
 */
export async function compareSteps(c: StepCase, steps: number, tol: number): Promise<{ ref: StepOutcome; got: StepOutcome; mismatches: [string, number][] }> {
  await tf.setBackend('cpu');
  const ref = await tfjsSteps(c, steps);
  await tf.setBackend('webgpu');
  const got = await compiledSteps(c, steps);
  const mismatches: [string, number][] = [];
  for (const [name, want] of ref.vars) {
    const have = got.vars.get(name);
    if (!have) {
      mismatches.push([name, NaN]);
      continue;
    }
    if (K_BIAS.test(name)) {
      if (c.kind !== 'sgd' && name.includes('#')) continue;
      const off = have.reduce((m, v, i) => Math.max(m, Math.abs(v - (c.kind === 'sgd' ? want[i]! : 0))), 0);
      if (off > (c.kind === 'sgd' ? 1e-6 : c.lr * steps * 1.01)) mismatches.push([name, off]);
      continue;
    }
    const e = relErr(have, want);
    if (!(e < tol)) mismatches.push([name, e]);
  }
  return { ref, got, mismatches };
}
