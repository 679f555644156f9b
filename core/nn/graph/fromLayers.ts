/**
 * Translate the supernet's concrete subnet layers (../subnetLayers.ts, from `subnetWeights`) into the
 * subnet graph's ops. The semantics are the ones documented there; this file only renames fields and
 * makes residuals and activations explicit ops. Transitional (issue 10, one subnet format): the dense,
 * conv and MoE blocks lower through it until they emit graph ops themselves.
 */
import type { InputSpec } from '../../space/SearchSpace.js';
import type { FfnWeights, MoESubnetLayer, SubnetLayer, WeightArray } from '../subnetLayers.js';
import type { DenseWeights, Ffn, MoESlot, SubnetGraph, SubnetOp } from './ops.js';

function denseOf(kernel: WeightArray, bias: WeightArray | null): DenseWeights {
  const [inDim, outDim] = kernel.shape as [number, number];
  return { kernel: kernel.data, bias: bias ? bias.data : null, inDim, outDim };
}

function ffnOf(w: FfnWeights, activation: Ffn['activation']): Ffn {
  return { up: denseOf(w.w1, w.b1), down: denseOf(w.w2, w.b2), activation };
}

function moeOps(l: MoESubnetLayer): SubnetOp[] {
  let ffnIndex = 0;
  let constIndex = 0;
  const slots: MoESlot[] = l.columns.map((kind, c) => {
    const name = l.expertNames[l.columnSlots[c]!] ?? `slot${c}`;
    switch (kind) {
      case 'ffn':
        return { kind: 'expert', name, ffn: ffnOf(l.experts[ffnIndex++]!, l.activation) };
      case 'null':
      case 'zero':
        return { kind: 'null', name };
      case 'copy':
        return { kind: 'copy', name };
      case 'constant': {
        const row = constIndex++;
        const value = l.constants!.data.slice(row * l.dim, (row + 1) * l.dim);
        if (!l.constantGate) return { kind: 'constant', name, value };
        // Columns 2·row, 2·row + 1 of the [dim, 2C] mixing projections.
        const C = l.constantGate.shape[1]! / 2;
        const kernel = new Float32Array(l.dim * 2);
        for (let i = 0; i < l.dim; i++) for (let j = 0; j < 2; j++) kernel[i * 2 + j] = l.constantGate.data[i * 2 * C + 2 * row + j]!;
        return { kind: 'constant', name, value, gate: { kernel, bias: null, inDim: l.dim, outDim: 2 } };
      }
    }
  });
  const op: SubnetOp = {
    op: 'moe',
    name: l.name,
    dim: l.dim,
    router: denseOf(l.router, l.routerBias ?? null),
    slots,
    shared: l.shared.map((w) => ffnOf(w, l.activation)),
    gating: l.gating,
    normalize: l.normalize,
    gateResidual: l.gateResidual ? denseOf(l.gateResidual, null) : null,
    recurrent: l.recurrent
      ? {
          chain: l.recurrent.chain,
          proj: denseOf(l.recurrent.proj, null),
          gru: l.recurrent.gru ? { input: denseOf(l.recurrent.gru.wx, l.recurrent.gru.bx), hidden: denseOf(l.recurrent.gru.wh, l.recurrent.gru.bh) } : null,
        }
      : null,
    iterations: l.iterations?.length ? l.iterations.map((r) => denseOf(r.kernel, r.bias)) : null,
    momentum: l.momentum ?? null,
    similarity: l.similarity ? { ws: denseOf(l.similarity.ws, null), temperature: l.similarity.temperature } : null,
    ...(l.prototype ? { prototype: true } : {}),
    ...(l.residualMlp ? { residualMlp: { mlp: ffnOf(l.residualMlp.ffn, l.activation), coef: denseOf(l.residualMlp.coef, l.residualMlp.coefBias) } } : {}),
  };
  return l.residual ? [{ op: 'residual', name: `${l.name}.residual`, body: [op] }] : [op];
}

/** One concrete layer as graph ops. */
export function layerOps(l: SubnetLayer): SubnetOp[] {
  switch (l.kind) {
    case 'flatten':
      return [{ op: 'flatten', name: l.name }];
    case 'globalAvgPool':
      return [{ op: 'globalAvgPool', name: l.name }];
    case 'dense': {
      const body: SubnetOp[] = [
        { op: 'dense', name: l.name, weights: denseOf(l.kernel, l.bias) },
        { op: 'activation', name: `${l.name}.act`, fn: l.activation },
      ];
      return l.residual ? [{ op: 'residual', name: `${l.name}.residual`, body }] : body;
    }
    case 'conv': {
      const [k, , ci, co] = l.kernel.shape as [number, number, number, number];
      const ops: SubnetOp[] = [{ op: 'conv2d', name: l.name, kernel: l.kernel.data, kernelSize: k, inChannels: ci, outChannels: co, stride: l.stride, bias: l.bias ? l.bias.data : null }];
      if (l.batchNorm) {
        const bn = l.batchNorm;
        ops.push({ op: 'batchNorm', name: `${l.name}.bn`, channels: co, gamma: bn.gamma.data, beta: bn.beta.data, mean: bn.mean.data, variance: bn.variance.data, epsilon: bn.epsilon });
      }
      ops.push({ op: 'activation', name: `${l.name}.act`, fn: l.activation });
      return ops;
    }
    case 'moe':
      return moeOps(l);
    case 'head':
      return [{ op: 'dense', name: 'head', weights: denseOf(l.kernel, l.bias) }];
  }
}

export function subnetGraphFromLayers(input: InputSpec, numClasses: number, layers: readonly SubnetLayer[]): SubnetGraph {
  return { input, numClasses, ops: layers.flatMap(layerOps) };
}
