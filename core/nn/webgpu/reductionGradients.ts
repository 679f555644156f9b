/**
 * Sum and Mean gradients that broadcast dy on the device.
 *
 * tfjs 4.22's own gradients compute `dy · ones(x.shape)`, and `ones` is filled in JavaScript and uploaded
 * through a freshly created staging buffer on every backward pass. For a loss over an 8192×512 output that
 * is a 16 MB host fill, a new GPU allocation and a copy per step — measured on an H100 through Dawn as the
 * largest single cost of an MoE training step (bench/RESULTS.md). broadcastTo is one Tile kernel.
 * Same values as upstream; installing replaces the registered gradient for every backend (on cpu it is
 * equally correct and no slower).
 */
import * as tf from '@tensorflow/tfjs';

function reducedAxes(axis: unknown, rank: number): number[] {
  if (axis == null) return Array.from({ length: rank }, (_, i) => i);
  const list = Array.isArray(axis) ? (axis as number[]) : [axis as number];
  return list.map((a) => (a < 0 ? a + rank : a));
}

let installed = false;

export function installBroadcastReductionGradients(): void {
  if (installed) return;
  installed = true;
  for (const kernelName of ['Sum', 'Mean'] as const) {
    tf.registerGradient({
      kernelName,
      inputsToSave: ['x'],
      gradFunc: (dy, saved, attrs) => {
        const [x] = saved as [tf.Tensor];
        const axes = reducedAxes((attrs as { axis?: unknown }).axis, x.rank);
        const kept = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
        const spread = tf.broadcastTo(tf.reshape(dy as tf.Tensor, kept), x.shape);
        if (kernelName === 'Sum') return { x: () => spread };
        const count = axes.reduce((n, a) => n * x.shape[a]!, 1);
        return { x: () => tf.div(spread, count) };
      },
    });
  }
}
