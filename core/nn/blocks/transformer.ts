/**
 * The transformer block (core/space/blocks/transformer.ts), pre-LN as GPT-2 / ViT:
 *   h = x + Attn(LN₁(x)),  y = h + FFN(LN₂(h))
 * on x [B, T, d]. Heads and MLP ratio are this layer's choices; d is the width that reaches it (the
 * embedding block's choice). Weights are allocated at the largest d (inMax), heads and ratio and sliced per
 * choice (../transformer/*.ts: first rows, first heads). A dense FFN is d → round(ratio·d) → d with the block's
 * activation; an MoE FFN is core/nn/moe/MoELayer.ts over the B·T tokens with experts of that hidden width, its
 * report and weighted losses pushed to the context like an MoE block's.
 *
 * Variables "<name>.transformer.ln1|ln2.gamma|beta", "<name>.transformer.attn.q|k|v|o.kernel|bias",
 * "<name>.transformer.ffn.w1|b1|w2|b2" (dense) or the MoE layer's under "<name>.transformer.moe".
 */
import * as tf from '@tensorflow/tfjs';
import { ffnHidden, transformerMoEBlock } from '../../space/blocks/transformer.js';
import type { BlockChoice, TransformerBlock } from '../../space/SearchSpace.js';
import { activate } from '../activations.js';
import type { ForwardContext } from '../forwardContext.js';
import { normalInit } from '../init.js';
import type { SubnetOp } from '../graph/ops.js';
import { denseOf } from '../graph/weights.js';
import { MoELayer, weightArray } from '../moe/MoELayer.js';
import { INIT_STD, MASK_VALUE, MultiHeadAttention } from '../transformer/attention.js';
import { LAYER_NORM_EPS, LayerNorm } from '../transformer/layerNorm.js';
import type { ActivationShape, BlockBuild, BlockInstance, ElasticBlock } from './block.js';
import { attentionUnsupported } from '../webgpu/step/attentionStep.js';
import type { Act, CompiledForward, StepCompiler } from '../webgpu/step/compiler.js';
import { COMPILED_ACTIVATIONS } from '../webgpu/step/denseStep.js';
import { compileMoEBlock, moeNotCompiled } from '../webgpu/step/moeStep.js';
import { compileTransformer } from '../webgpu/step/transformerStep.js';

function checkSequence(name: string, x: tf.Tensor, maxWidth: number): void {
  if (x.rank !== 3) throw new Error(`${name}: a transformer block reads a sequence [batch, tokens, width], got a rank-${x.rank} tensor [${x.shape.join(', ')}]`);
  if (x.shape[2]! > maxWidth) throw new Error(`${name}: width ${x.shape[2]} exceeds the allocated ${maxWidth}`);
}

class TransformerInstance implements BlockInstance {
  readonly type = 'transformer';
  readonly name: string;
  readonly moe?: MoELayer;
  private readonly block: TransformerBlock;
  private readonly inMax: number;
  readonly ln1: LayerNorm;
  readonly ln2: LayerNorm;
  readonly attn: MultiHeadAttention;
  private readonly ffn?: { w1: tf.Variable; b1: tf.Variable; w2: tf.Variable; b2: tf.Variable };

  constructor({ name, block, inMax, store, rng }: BlockBuild<TransformerBlock>) {
    this.name = name;
    this.block = block;
    this.inMax = inMax;
    const p = `${name}.transformer`;
    this.ln1 = new LayerNorm(`${p}.ln1`, inMax, store);
    this.attn = new MultiHeadAttention(`${p}.attn`, inMax, Math.max(...block.heads), block.headDim, block.causal, store, rng);
    this.ln2 = new LayerNorm(`${p}.ln2`, inMax, store);
    const hMax = ffnHidden(Math.max(...block.mlpRatio), inMax);
    const moeBlock = transformerMoEBlock(block, hMax);
    if (moeBlock) {
      this.moe = new MoELayer(`${p}.moe`, moeBlock, inMax, store, rng);
    } else {
      this.ffn = {
        w1: store.add(`${p}.ffn.w1`, normalInit(rng, [inMax, hMax], INIT_STD)),
        b1: store.add(`${p}.ffn.b1`, tf.zeros([hMax])),
        w2: store.add(`${p}.ffn.w2`, normalInit(rng, [hMax, inMax], INIT_STD)),
        b2: store.add(`${p}.ffn.b2`, tf.zeros([inMax])),
      };
    }
  }

  private choiceOf(choice: BlockChoice): { heads: number; mlpRatio: number } {
    const { heads, mlpRatio } = choice;
    if (heads === undefined || !this.block.heads.includes(heads)) throw new Error(`${this.name}: heads ${heads} is not one of ${this.block.heads.join(', ')}`);
    if (mlpRatio === undefined || !this.block.mlpRatio.includes(mlpRatio)) {
      throw new Error(`${this.name}: mlpRatio ${mlpRatio} is not one of ${this.block.mlpRatio.join(', ')}`);
    }
    return { heads, mlpRatio };
  }

  apply(x: tf.Tensor, choice: BlockChoice, ctx: ForwardContext): tf.Tensor {
    checkSequence(this.name, x, this.inMax);
    const { heads, mlpRatio } = this.choiceOf(choice);
    const [B, T, d] = x.shape as [number, number, number];
    const hidden = ffnHidden(mlpRatio, d);
    const h = tf.add(x, this.attn.apply(this.ln1.apply(x as tf.Tensor3D), { heads })) as tf.Tensor3D;
    const rows = tf.reshape(this.ln2.apply(h), [B * T, d]) as tf.Tensor2D;
    let f: tf.Tensor2D;
    if (this.moe) {
      // MoELayer works on [tokens, d]: every token of every sequence is routed on its own.
      const { y, report } = this.moe.apply(rows, hidden, { training: ctx.training, progress: ctx.progress }, ctx);
      ctx.reports.push(report);
      ctx.losses.push(...(report.losses ?? []));
      f = y;
    } else {
      const w = this.ffn!;
      const up = activate(tf.add(tf.matMul(rows, w.w1.slice([0, 0], [d, hidden])), w.b1.slice(0, hidden)), this.block.activation);
      f = tf.add(tf.matMul(up, w.w2.slice([0, 0], [hidden, d])), w.b2.slice(0, d)) as tf.Tensor2D;
    }
    return tf.add(h, tf.reshape(f, [B, T, d]));
  }

  /** The compiled step (core/nn/webgpu/step/transformerStep.ts); an MoE FFN through the MoE block's (moeStep.ts). */
  compile(choice: BlockChoice, x: Act, c: StepCompiler): CompiledForward | string {
    const { heads, mlpRatio } = this.choiceOf(choice);
    const { width: d, length: T } = x.shape;
    const hidden = ffnHidden(mlpRatio, d);
    // The MoE FFN as an MoE block of `hidden`-unit experts (its own residual off: the block adds h).
    const moe = this.moe;
    const moeChoice: BlockChoice = { expertHidden: hidden };
    const moeWhy = moe ? moeNotCompiled(moe, moeChoice) : null;
    if (moeWhy) return `${this.name}: ${moeWhy}`;
    if (!moe && !COMPILED_ACTIVATIONS.has(this.block.activation)) return `${this.name}: activation ${this.block.activation} is not compiled`;
    const unsupported = attentionUnsupported(T, this.attn.headDim);
    if (unsupported) return `${this.name}: ${unsupported}`;
    const a = this.attn;
    const moeFfn = (rows: GPUBuffer) => {
      const r = compileMoEBlock(moe!, moeChoice, { buffer: rows, shape: x.shape }, c);
      if (typeof r === 'string') throw new Error(r);
      return { y: r.out.buffer, layer: r.layer };
    };
    const { y, layer } = compileTransformer(
      c,
      {
        name: this.name,
        B: c.batch,
        T,
        d,
        eps: LAYER_NORM_EPS,
        ln1: this.ln1,
        ln2: this.ln2,
        attn: { heads, headDim: a.headDim, causal: a.causal, wq: a.wq, bq: a.bq, wk: a.wk, bk: a.bk, wv: a.wv, bv: a.bv, wo: a.wo, bo: a.bo },
        ffn: moe ? moeFfn : { ...this.ffn!, hidden, act: this.block.activation },
      },
      x.buffer,
    );
    return { out: { buffer: y, shape: x.shape }, layer };
  }

  outShape(_choice: BlockChoice, input: ActivationShape): ActivationShape {
    return input;
  }

  countParams(choice: BlockChoice, input: ActivationShape): number {
    const { heads, mlpRatio } = this.choiceOf(choice);
    const d = input.width;
    const hidden = ffnHidden(mlpRatio, d);
    const ffn = this.moe ? this.moe.countParams(d, hidden) : d * hidden + hidden + hidden * d + d;
    return 2 * LayerNorm.params(d) + MultiHeadAttention.params(d, heads, this.block.headDim) + ffn;
  }

  /** Attention and FFN products per sequence of input.length tokens (layer norms' few ops per element left out). */
  countFlops(choice: BlockChoice, input: ActivationShape): number {
    const { heads, mlpRatio } = this.choiceOf(choice);
    const d = input.width;
    const T = input.length;
    const hidden = ffnHidden(mlpRatio, d);
    const ffn = this.moe ? this.moe.countFlops(d, hidden) * T : 2 * T * 2 * d * hidden;
    return MultiHeadAttention.flops(d, heads, this.block.headDim, T) + ffn;
  }

  /**
   * x + Attn(LN₁(x)) and h + FFN(LN₂(h)) as two residual ops, weights sliced as `apply` slices them: the first d
   * rows / entries, the first h heads' columns of Q/K/V and rows of O, the first round(ratio·d) hidden units.
   */
  lower(choice: BlockChoice, input: ActivationShape): SubnetOp[] {
    const { heads, mlpRatio } = this.choiceOf(choice);
    const d = input.width;
    const hidden = ffnHidden(mlpRatio, d);
    const p = `${this.name}.transformer`;
    const ln = (l: LayerNorm, name: string): SubnetOp => ({
      op: 'layerNorm',
      name,
      dim: d,
      gamma: weightArray(l.gamma, [0], [d]).data,
      beta: weightArray(l.beta, [0], [d]).data,
      epsilon: LAYER_NORM_EPS,
    });
    const a = this.attn;
    const inner = heads * a.headDim;
    const proj = (w: tf.Variable, b: tf.Variable) => denseOf(weightArray(w, [0, 0], [d, inner]), weightArray(b, [0], [inner]));
    const attention: SubnetOp = {
      op: 'attention',
      name: `${p}.attn`,
      dim: d,
      heads,
      headDim: a.headDim,
      causal: a.causal,
      maskValue: MASK_VALUE,
      length: input.length,
      q: proj(a.wq, a.bq),
      k: proj(a.wk, a.bk),
      v: proj(a.wv, a.bv),
      o: denseOf(weightArray(a.wo, [0, 0], [inner, d]), weightArray(a.bo, [0], [d])),
    };
    const w = this.ffn;
    const ffn: SubnetOp[] = this.moe
      ? this.moe.lower(d, hidden)
      : [
          { op: 'dense', name: `${p}.ffn.up`, weights: denseOf(weightArray(w!.w1, [0, 0], [d, hidden]), weightArray(w!.b1, [0], [hidden])) },
          { op: 'activation', name: `${p}.ffn.act`, fn: this.block.activation },
          { op: 'dense', name: `${p}.ffn.down`, weights: denseOf(weightArray(w!.w2, [0, 0], [hidden, d]), weightArray(w!.b2, [0], [d])) },
        ];
    return [
      { op: 'residual', name: `${p}.attn.residual`, body: [ln(this.ln1, `${p}.ln1`), attention] },
      { op: 'residual', name: `${p}.ffn.residual`, body: [ln(this.ln2, `${p}.ln2`), ...ffn] },
    ];
  }
}

export const transformer: ElasticBlock<TransformerBlock> = {
  type: 'transformer',
  create: (build) => new TransformerInstance(build),
};
